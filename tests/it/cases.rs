//! The `flows/<flow-id>.cases.json` format: requests and the responses expected for them.

use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasesFile {
    #[serde(rename = "$schema", default)]
    pub _schema: Option<String>,
    pub flow: String,
    pub cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    #[serde(default)]
    pub request: CaseRequest,
    #[serde(default)]
    pub execution_id: Option<String>,
    pub expect: Expect,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CaseRequest {
    pub method: Option<String>,
    pub path: Option<String>,
    #[serde(default)]
    pub query: Map<String, Value>,
    #[serde(default)]
    pub headers: Map<String, Value>,
    pub body: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub status: u16,
    #[serde(default)]
    pub headers: Map<String, Value>,
    pub body: Option<Value>,
    pub responded_by: Option<String>,
}
