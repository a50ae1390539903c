//! `hookflow records ...`: the collections that `store` nodes write in a running `hookflow serve`,
//! through its admin API (`--admin-url`, `--admin-token`): the collections, a page of records, one
//! record, deleting one, and every record of a collection as NDJSON. Exit 0 = done, 1 = the server
//! said no (its problem detail is printed), 2 = could not run (no connection, bad arguments, an
//! output file that cannot be written).

use std::fmt::Write as _;
use std::io::{BufWriter, ErrorKind, Write};
use std::path::PathBuf;

use hookflow_store::{RecordOrder, RecordQuery};
use serde_json::{Value, json};

use super::admin_client::{AdminOptions, Failure, answer, segment, send, text};
use super::{Format, table};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    admin: AdminOptions,
    /// `human` (default) or `json` (the admin API's answer as it is).
    #[arg(long, global = true, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Print the admin API's answer as it is (the same as `--format json`).
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// List the collections that hold records, and how many each holds.
    Collections,
    /// List a page of a collection's records.
    List {
        collection: String,
        /// `key` (default: by key, ascending) or `created` (oldest first).
        #[arg(long)]
        order: Option<RecordOrder>,
        /// At most this many (1 to 1000; default 50).
        #[arg(long)]
        limit: Option<usize>,
        /// Continue after this record (the `next_cursor` of the previous page).
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Print one record as JSON.
    Get { collection: String, key: String },
    /// Delete one record.
    Delete { collection: String, key: String },
    /// Write every record of a collection as NDJSON, one record a line, a page at a time.
    Export {
        collection: String,
        /// `key` (default: by key, ascending) or `created` (oldest first).
        #[arg(long)]
        order: Option<RecordOrder>,
        /// Write to this file instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

pub fn main(args: Args) -> u8 {
    answer("records", |runtime| runtime.block_on(run(&args)))
}

async fn run(args: &Args) -> Result<String, Failure> {
    let (client, base, token) = args.admin.connect()?;
    let records = |collection: &str| -> Result<String, Failure> {
        Ok(format!("{base}/api/collections/{}/records", path_segment(collection)?))
    };
    let record = |collection: &str, key: &str| -> Result<String, Failure> {
        Ok(format!("{}/{}", records(collection)?, path_segment(key)?))
    };
    let request = match &args.command {
        Command::Collections => client.get(format!("{base}/api/collections")),
        Command::List { collection, order, limit, cursor } => {
            let mut query: Vec<(&str, String)> = Vec::new();
            if let Some(order) = order {
                query.push(("order", order.to_string()));
            }
            if let Some(limit) = limit {
                query.push(("limit", limit.to_string()));
            }
            if let Some(cursor) = cursor {
                query.push(("cursor", cursor.clone()));
            }
            client.get(records(collection)?).query(&query)
        }
        Command::Get { collection, key } => client.get(record(collection, key)?),
        Command::Delete { collection, key } => client.delete(record(collection, key)?),
        Command::Export { collection, order, output } => {
            let pages = Pages { client: &client, url: records(collection)?, base, token };
            return export(pages, collection, *order, output.as_ref()).await;
        }
    };
    let doc = send(request.bearer_auth(token), base).await?;
    let json = args.json || args.format == Format::Json;
    Ok(match &args.command {
        Command::Get { .. } => pretty(&doc),
        // `204` has no body: say what was done.
        Command::Delete { collection, key } if json => {
            pretty(&json!({ "collection": collection, "key": key, "deleted": true }))
        }
        Command::Delete { collection, key } => {
            format!("deleted record {} from collection {collection}\n", shown(key))
        }
        _ if json => pretty(&doc),
        Command::Collections => collections(&doc),
        _ => list(&doc),
    })
}

/// A collection name or a key as one segment of a URL path. `.` and `..` cannot be one: URL
/// parsing resolves them (encoded too), so the request would reach another endpoint.
fn path_segment(value: &str) -> Result<String, Failure> {
    if value == "." || value == ".." {
        return Err(Failure::CouldNotRun(format!(
            "`{value}` cannot be named in a URL path, so the admin API cannot address it"
        )));
    }
    Ok(segment(value))
}

fn pretty(doc: &Value) -> String {
    format!("{}\n", serde_json::to_string_pretty(doc).unwrap_or_default())
}

/// A key as a table shows it: as it is, or as a JSON string when it holds control characters
/// (a newline would break the table).
fn shown(key: &str) -> String {
    if key.chars().any(char::is_control) { Value::from(key).to_string() } else { key.to_owned() }
}

/// A word as a shell reads it back: as it is when it is plain, else in single quotes.
fn quoted(word: &str) -> String {
    let plain = !word.is_empty()
        && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c));
    if plain { word.to_owned() } else { format!("'{}'", word.replace('\'', r"'\''")) }
}

/// `collections` as a table.
fn collections(doc: &Value) -> String {
    let items = doc["items"].as_array().map(Vec::as_slice).unwrap_or_default();
    if items.is_empty() {
        return "no collections\n".into();
    }
    let rows: Vec<[String; 2]> =
        items.iter().map(|c| [text(&c["name"]), text(&c["count"])]).collect();
    table(["COLLECTION", "RECORDS"], &rows)
}

/// `list` as a table, then how to get the next page.
fn list(doc: &Value) -> String {
    let items = doc["items"].as_array().map(Vec::as_slice).unwrap_or_default();
    if items.is_empty() {
        return "no records\n".into();
    }
    let rows: Vec<[String; 4]> = items
        .iter()
        .map(|r| {
            [
                r["key"].as_str().map_or_else(|| text(&r["key"]), shown),
                text(&r["version"]),
                text(&r["updated_at"]),
                text(&r["execution_id"]),
            ]
        })
        .collect();
    let mut out = table(["KEY", "VERSION", "UPDATED", "EXECUTION"], &rows);
    if let Some(cursor) = doc["next_cursor"].as_str() {
        let _ = writeln!(out, "more: --cursor {}", quoted(cursor));
    }
    out
}

/// The pages of one collection's records.
struct Pages<'a> {
    client: &'a reqwest::Client,
    url: String,
    base: &'a str,
    token: &'a str,
}

/// Where `export` writes.
struct Sink {
    out: BufWriter<Box<dyn Write>>,
    /// The file, or `None` for standard output.
    file: Option<PathBuf>,
}

/// Why `export` stopped before the last record.
enum Stop {
    /// Standard output was closed (`hookflow records export notes | head`): not an error.
    Closed,
    /// The output could not be written.
    Write(std::io::Error),
    /// A page after the first could not be had.
    Fetch(Failure),
}

impl Sink {
    fn open(file: Option<&PathBuf>) -> Result<Sink, Failure> {
        let out: Box<dyn Write> = match file {
            Some(path) => Box::new(std::fs::File::create(path).map_err(|e| {
                Failure::CouldNotRun(format!("cannot create {}: {e}", path.display()))
            })?),
            None => Box::new(std::io::stdout()),
        };
        Ok(Sink { out: BufWriter::new(out), file: file.cloned() })
    }

    fn name(&self) -> String {
        self.file.as_ref().map_or_else(|| "standard output".into(), |p| p.display().to_string())
    }

    /// `record` on a line of its own.
    fn line(&mut self, record: &Value) -> Result<(), Stop> {
        serde_json::to_writer(&mut self.out, record)
            .map_err(std::io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"))
            .map_err(|e| self.stop(e))
    }

    fn finish(&mut self) -> Result<(), Stop> {
        self.out.flush().map_err(|e| self.stop(e))
    }

    fn stop(&self, e: std::io::Error) -> Stop {
        if self.file.is_none() && e.kind() == ErrorKind::BrokenPipe {
            Stop::Closed
        } else {
            Stop::Write(e)
        }
    }
}

impl Pages<'_> {
    /// The page after `cursor` (the first without one), of [`RecordQuery::MAX_LIMIT`] records.
    async fn get(
        &self,
        order: Option<RecordOrder>,
        cursor: Option<String>,
    ) -> Result<Value, Failure> {
        let mut query: Vec<(&str, String)> = vec![("limit", RecordQuery::MAX_LIMIT.to_string())];
        if let Some(order) = order {
            query.push(("order", order.to_string()));
        }
        if let Some(cursor) = cursor {
            query.push(("cursor", cursor));
        }
        send(self.client.get(&self.url).query(&query).bearer_auth(self.token), self.base).await
    }
}

/// `export`: every record, page after page, each page written before the next is asked for.
/// The output is opened once the first page is in, so that a refused export leaves no file; the
/// count goes to standard error.
async fn export(
    pages: Pages<'_>,
    collection: &str,
    order: Option<RecordOrder>,
    output: Option<&PathBuf>,
) -> Result<String, Failure> {
    let first = pages.get(order, None).await?;
    let mut sink = Sink::open(output)?;
    let mut count: u64 = 0;
    match copy(&pages, order, first, &mut sink, &mut count).await {
        Ok(()) => {
            let s = if count == 1 { "" } else { "s" };
            let to = sink.name();
            eprintln!(
                "hookflow records: exported {count} record{s} of collection {collection} to {to}"
            );
            Ok(String::new())
        }
        Err(Stop::Closed) => Ok(String::new()),
        Err(Stop::Write(e)) => {
            Err(Failure::CouldNotRun(format!("cannot write {}: {e}", sink.name())))
        }
        Err(Stop::Fetch(failure)) => {
            let cut =
                |m: String| format!("{m} ({} holds only the first {count} records)", sink.name());
            Err(match failure {
                Failure::Refused(m) => Failure::Refused(cut(m)),
                Failure::CouldNotRun(m) => Failure::CouldNotRun(cut(m)),
            })
        }
    }
}

/// Writes `page` and every page after it to `sink`, counting the records.
async fn copy(
    pages: &Pages<'_>,
    order: Option<RecordOrder>,
    mut page: Value,
    sink: &mut Sink,
    count: &mut u64,
) -> Result<(), Stop> {
    loop {
        for record in page["items"].as_array().into_iter().flatten() {
            sink.line(record)?;
            *count += 1;
        }
        let Some(next) = page["next_cursor"].as_str().map(str::to_owned) else {
            return sink.finish();
        };
        page = pages.get(order, Some(next)).await.map_err(Stop::Fetch)?;
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    /// The command line as `main.rs` parses it, with `records` first.
    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Top,
    }

    #[derive(Debug, clap::Subcommand)]
    enum Top {
        Records(Args),
    }

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        let mut all = vec!["hookflow", "records"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).map(|cli| match cli.command {
            Top::Records(args) => args,
        })
    }

    #[test]
    fn list_takes_an_order_a_limit_and_a_cursor() {
        let args =
            parse(&["list", "notes", "--order", "created", "--limit", "5", "--cursor", "a b"])
                .unwrap();
        let Command::List { collection, order, limit, cursor } = args.command else { panic!() };
        assert_eq!(collection, "notes");
        assert_eq!(
            (order, limit, cursor.as_deref()),
            (Some(RecordOrder::Created), Some(5), Some("a b"))
        );
        let error = parse(&["list", "notes", "--order", "newest"]).unwrap_err();
        assert!(error.to_string().contains("key or created"), "{error}");
    }

    #[test]
    fn export_takes_an_output_file() {
        let args = parse(&["export", "notes", "-o", "notes.ndjson", "--json"]).unwrap();
        assert!(args.json);
        let Command::Export { output, order, .. } = args.command else { panic!() };
        assert_eq!((output, order), (Some(PathBuf::from("notes.ndjson")), None));
    }

    #[test]
    fn dot_segments_are_refused_and_others_encoded() {
        assert_eq!(path_segment("a/b c").ok().as_deref(), Some("a%2Fb%20c"));
        assert_eq!(path_segment("é").ok().as_deref(), Some("%C3%A9"));
        assert_eq!(path_segment("...").ok().as_deref(), Some("%2E%2E%2E"));
        for dots in [".", ".."] {
            let Err(Failure::CouldNotRun(message)) = path_segment(dots) else { panic!("{dots}") };
            assert!(message.contains(&format!("`{dots}`")), "{message}");
        }
    }

    #[test]
    fn keys_and_cursors_print_so_that_they_read_back() {
        assert_eq!(shown("a b/c"), "a b/c");
        assert_eq!(shown("a\nb"), r#""a\nb""#);
        assert_eq!(quoted("note-7"), "note-7");
        assert_eq!(quoted("a b"), "'a b'");
        assert_eq!(quoted("it's"), r"'it'\''s'");
        assert_eq!(quoted(""), "''");
    }

    #[test]
    fn a_page_is_a_table_with_the_next_cursor() {
        let page = json!({
            "items": [{ "key": "a b", "version": 2, "updated_at": "2026-12-07T10:00:00.000Z",
                        "execution_id": "0190" }],
            "next_cursor": "a b",
        });
        let out = list(&page);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["KEY", "VERSION", "UPDATED", "EXECUTION"]
        );
        assert!(lines[1].starts_with("a b  ") && lines[1].ends_with("0190"), "{out}");
        assert_eq!(lines[2], "more: --cursor 'a b'");
        assert_eq!(list(&json!({ "items": [], "next_cursor": null })), "no records\n");
    }
}
