//! JSON values into JavaScript values and back, directly: no JSON text in between. Back from
//! JavaScript, a value becomes what `JSON.stringify` would make of it (`toJSON` is called,
//! functions and `undefined` are left out of objects and `null` in arrays, non-finite numbers
//! are `null`), except that a whole number is an integer.

use rquickjs::function::This;
use rquickjs::{Array, Ctx, Function, Object, String as JsString, Type, Value as JsValue};
use serde_json::{Map, Number, Value};

use crate::Need;

/// How deep a result may nest: deeper is almost always a cycle.
const MAX_DEPTH: usize = 128;

/// `value` as a JavaScript value of `ctx`.
pub fn to_js<'js>(ctx: &Ctx<'js>, value: &Value) -> rquickjs::Result<JsValue<'js>> {
    Ok(match value {
        Value::Null => JsValue::new_null(ctx.clone()),
        Value::Bool(b) => JsValue::new_bool(ctx.clone(), *b),
        Value::Number(n) => match n.as_i64().and_then(|i| i32::try_from(i).ok()) {
            Some(i) => JsValue::new_int(ctx.clone(), i),
            None => JsValue::new_float(ctx.clone(), n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => JsString::from_str(ctx.clone(), s)?.into_value(),
        Value::Array(items) => {
            let array = Array::new(ctx.clone())?;
            for (i, item) in items.iter().enumerate() {
                array.set(i, to_js(ctx, item)?)?;
            }
            array.into_value()
        }
        Value::Object(fields) => {
            let object = Object::new(ctx.clone())?;
            for (key, item) in fields {
                object.set(key.as_str(), to_js(ctx, item)?)?;
            }
            object.into_value()
        }
    })
}

/// What `need` names of `value` as a JavaScript value of `ctx`: an object copied only in the
/// members read (see [`Need::prunes`]), anything else whole.
pub fn needed_to_js<'js>(
    ctx: &Ctx<'js>,
    value: &Value,
    need: &Need,
) -> rquickjs::Result<JsValue<'js>> {
    if let Some(length) = need.length_only(value) {
        // Only `.length` is read: an array of that length, without its items.
        let array = Array::new(ctx.clone())?;
        array.as_object().set("length", length)?;
        return Ok(array.into_value());
    }
    let Some(parts) = need.prunes(value) else { return to_js(ctx, value) };
    let object = Object::new(ctx.clone())?;
    if let Value::Object(map) = value {
        for (name, need) in parts {
            if let Some(member) = map.get(name) {
                object.set(name.as_str(), needed_to_js(ctx, member, need)?)?;
            }
        }
    }
    Ok(object.into_value())
}

/// `value` as JSON; `Ok(None)` for what JSON has no place for (`undefined`, a function, a
/// symbol). An error names what cannot be JSON.
pub fn from_js(value: JsValue<'_>) -> rquickjs::Result<Result<Option<Value>, String>> {
    from_js_at(value, 0)
}

fn from_js_at(value: JsValue<'_>, depth: usize) -> rquickjs::Result<Result<Option<Value>, String>> {
    if depth > MAX_DEPTH {
        return Ok(Err(format!("the result nests deeper than {MAX_DEPTH} levels (is it cyclic?)")));
    }
    let json = match value.type_of() {
        Type::Uninitialized
        | Type::Undefined
        | Type::Symbol
        | Type::Function
        | Type::Constructor
        | Type::Module
        | Type::Unknown => None,
        Type::Null => Some(Value::Null),
        Type::Bool => value.as_bool().map(Value::Bool),
        Type::Int => value.as_int().map(Value::from),
        Type::Float => value.as_float().map(number),
        Type::String => match value.as_string() {
            Some(s) => Some(Value::String(s.to_string()?)),
            None => None,
        },
        Type::BigInt => return Ok(Err("a BigInt cannot be JSON: convert it with Number()".into())),
        Type::Array => {
            let Some(array) = value.as_array() else { return Ok(Ok(None)) };
            let mut items = Vec::with_capacity(array.len());
            for item in array.iter::<JsValue>() {
                match from_js_at(item?, depth + 1)? {
                    Ok(item) => items.push(item.unwrap_or(Value::Null)),
                    Err(e) => return Ok(Err(e)),
                }
            }
            Some(Value::Array(items))
        }
        Type::Object | Type::Exception | Type::Promise | Type::Proxy => {
            let Some(object) = value.as_object() else { return Ok(Ok(None)) };
            let to_json: JsValue = object.get("toJSON")?;
            if let Some(to_json) = to_json.as_function() {
                let converted: JsValue = Function::call(to_json, (This(object.clone()), ""))?;
                return from_js_at(converted, depth + 1);
            }
            let mut fields = Map::new();
            for prop in object.props::<String, JsValue>() {
                let (key, item) = prop?;
                match from_js_at(item, depth + 1)? {
                    Ok(Some(item)) => {
                        fields.insert(key, item);
                    }
                    Ok(None) => {}
                    Err(e) => return Ok(Err(e)),
                }
            }
            Some(Value::Object(fields))
        }
    };
    Ok(Ok(json))
}

/// A JavaScript number as JSON: a whole number (up to 2^53) an integer, a non-finite one `null`.
fn number(f: f64) -> Value {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if f.fract() == 0.0 && f.abs() <= EXACT {
        // The cast is exact: `f` is whole and within ±2^53.
        #[allow(clippy::cast_possible_truncation)]
        return Value::from(f as i64);
    }
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}
