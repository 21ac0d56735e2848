//! Streams the resources of a snapshot, one file at a time: Bundles (searchset, collection, the
//! JSON files of `$export`), single resources and NDJSON, each optionally gzipped. Memory holds one
//! file, never the whole snapshot. A UTF-8 byte-order mark and CRLF line ends are accepted, as
//! ANS's own files have them.

use std::fs;
use std::io::Read;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::{Snapshot, SnapshotFile, SourceError};

mod typed;
pub use typed::TypedResources;

/// One resource as found in a file, not yet parsed beyond its type and id.
#[derive(Debug, Clone, Copy)]
pub struct RawResource<'a> {
    /// The file, relative to the snapshot folder.
    pub file: &'a str,
    /// Where in the file: "entry[3]", "line 12" or "resource".
    pub position: &'a str,
    pub resource_type: &'a str,
    pub id: &'a str,
    pub json: &'a RawValue,
    /// False when type and id were read from the resource's first two members only (see
    /// `HeaderCheck::DeferFor`): the consumer's own parse must then prove there is no second
    /// `resourceType` or `id`, or call `verify_header` to get the error a full check gives.
    pub header_verified: bool,
}

impl RawResource<'_> {
    /// The header check skipped for this resource, if it was: its error, exactly as a full check
    /// at the door would have reported it.
    pub fn verify_header(&self) -> Result<(), SourceError> {
        if self.header_verified {
            return Ok(());
        }
        parse_header(self.file, self.position, self.json).map(|_| ())
    }
}

/// How much of each resource's header the reader checks itself.
#[derive(Debug, Clone, Copy)]
pub enum HeaderCheck<'t> {
    /// Parse `resourceType` and `id` out of the whole resource, as a struct: a second member of
    /// either name is refused here.
    Full,
    /// For these resource types, when the resource begins with its `resourceType` then its `id`
    /// (plain strings, as every FHIR server writes them), take both from there without reading
    /// the rest: that read is a third of the parsing work. The consumer deserialises these types
    /// into structs that declare both members, so a duplicate fails its parse, and it calls
    /// `RawResource::verify_header` when its parse fails.
    DeferFor(&'t [&'t str]),
}

#[derive(Deserialize)]
struct Header<'a> {
    #[serde(rename = "resourceType", borrow)]
    resource_type: Option<&'a str>,
    #[serde(borrow)]
    id: Option<&'a str>,
}

#[derive(Deserialize)]
struct BundleShape<'a> {
    #[serde(borrow, default)]
    entry: Vec<EntryShape<'a>>,
}

#[derive(Deserialize)]
struct EntryShape<'a> {
    #[serde(borrow)]
    resource: Option<&'a RawValue>,
}

/// The largest single resource accepted. ANS's offers weigh about 9 KB with their hours and
/// contacts; a resource a thousand times that is a corrupt or hostile file, and its strings would
/// end up in CSV cells that no spreadsheet opens.
pub const MAX_RESOURCE_BYTES: usize = 8 * 1024 * 1024;

/// Resource types that carry no directory data (search outcomes): skipped silently.
const IGNORED_TYPES: &[&str] = &["OperationOutcome"];

/// Call `visit` for every resource of the snapshot, in file order then position order.
pub fn for_each_resource<E, F>(snapshot: &Snapshot, mut visit: F) -> Result<(), E>
where
    E: From<SourceError>,
    F: FnMut(RawResource<'_>) -> Result<(), E>,
{
    for file in &snapshot.provenance.files {
        for_each_resource_in_file(file, HeaderCheck::Full, &mut visit)?;
    }
    Ok(())
}

/// Call `visit` for every resource of one file, in position order: the unit of work when files
/// are read on several threads (the file's bytes are read, unzipped and dropped here).
pub fn for_each_resource_in_file<E, F>(file: &SnapshotFile, check: HeaderCheck<'_>, mut visit: F) -> Result<(), E>
where
    E: From<SourceError>,
    F: FnMut(RawResource<'_>) -> Result<(), E>,
{
    with_file_text(file, |text| visit_text(&file.path, text, check, &mut visit))
}

/// `read` the file's text, in this thread's buffer (`FILE_TEXT`).
fn with_file_text<E: From<SourceError>>(file: &SnapshotFile, read: impl FnOnce(&str) -> Result<(), E>) -> Result<(), E> {
    FILE_TEXT.with_borrow_mut(|text| {
        let result = read_file(file, text).and_then(|()| decode_text(&file.path, text)).map_err(E::from).and_then(read);
        if text.capacity() > KEEP_FILE_TEXT_BYTES {
            *text = Vec::new();
        }
        result
    })
}

/// What `for_each_typed_resource_in_file` gives: a resource read in one pass with the consumer's
/// own parse, or found the general way (any other file, and any file the one pass gave up on).
pub enum Found<'a, T> {
    Typed(TypedResource<'a, T>),
    /// The one pass gave up partway: forget every resource given so far, the file's resources
    /// come again, the general way.
    StartAgain,
    Raw(RawResource<'a>),
}

/// A resource of a Bundle read in one pass: its header checked as the general path checks it.
pub struct TypedResource<'a, T> {
    /// Its index among the Bundle's entries.
    pub index: usize,
    pub resource_type: &'a str,
    pub id: &'a str,
    /// The consumer's parse; None for a type it does not `parse`.
    pub typed: Option<T>,
}

impl<T> TypedResource<'_, T> {
    /// Where in the file, as `RawResource::position` names it: "entry[3]".
    pub fn position(&self) -> String {
        format!("entry[{}]", self.index)
    }
}

/// As `for_each_resource_in_file`, with `parser` deserialising the resources of a file that
/// holds one Bundle in the same pass that finds them (`typed`); any other file is read the
/// general way, each resource given as found, and so is a file that pass finds anything to say
/// about, after `Found::StartAgain` if it had given some of its resources. An error `visit`
/// returns for a resource of the one pass is not returned: the general path gives it again, or
/// the fault before it.
pub fn for_each_typed_resource_in_file<P, E, F>(file: &SnapshotFile, check: HeaderCheck<'_>, parser: &P, mut visit: F) -> Result<(), E>
where
    P: TypedResources,
    E: From<SourceError>,
    F: for<'a> FnMut(Found<'a, P::Resource<'a>>) -> Result<(), E>,
{
    with_file_text(file, |text| {
        let mut given = false;
        let read = typed::single_bundle(text, parser, &mut |resource| {
            given = true;
            visit(Found::Typed(resource)).is_ok()
        });
        if read {
            return Ok(());
        }
        tracing::debug!(file = %file.path, "not read in one pass: read the general way");
        if given {
            visit(Found::StartAgain)?;
        }
        visit_text(&file.path, text, check, &mut |raw| visit(Found::Raw(raw)))
    })
}

thread_local! {
    /// The text of the file a thread reads, kept for its next file: a snapshot's files are read
    /// by the same few threads, each file some megabytes, and a fresh buffer each time had the
    /// kernel map and zero its pages again (about 2 % of the flatten stage).
    static FILE_TEXT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A buffer above this is not kept for the next file: an NDJSON export may come as one large
/// file, which the thread would otherwise hold on to for the rest of the run.
const KEEP_FILE_TEXT_BYTES: usize = 64 << 20;

/// The file's text into `out` (what it held before is replaced): its bytes, unzipped when it is
/// gzipped.
fn read_file(file: &SnapshotFile, out: &mut Vec<u8>) -> Result<(), SourceError> {
    let raw = fs::read(&file.absolute).map_err(|source| SourceError::Read { file: file.path.clone(), source })?;
    let gz_name = file.path.ends_with(".gz");
    let gz_magic = raw.starts_with(&[0x1f, 0x8b]);
    if !gz_name && !gz_magic {
        *out = raw;
        return Ok(());
    }
    if gz_name && !gz_magic {
        return Err(SourceError::Gzip {
            file: file.path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "the file is named .gz but does not start with the gzip magic bytes"),
        });
    }
    inflate_over(flate2::read::MultiGzDecoder::new(&raw[..]), inflated_size_hint(&raw), out).map_err(|source| SourceError::Gzip { file: file.path.clone(), source })
}

/// Everything `decoder` gives, into `out`, over the bytes `out` already holds (the file read
/// before, by this thread). `read_to_end` would first zero the buffer's whole length for each file,
/// since flate2's reader cannot be given memory that was never written (2 % of the flatten
/// stage); here only what the buffer grows by is zeroed. `expected` is the text's size as far as
/// the gzip trailer tells it: room is reserved for it (and a byte more, so that the end of the
/// stream is a read that gives nothing), but zeroed only as it is filled, a trailer may lie.
fn inflate_over(mut decoder: impl Read, expected: usize, out: &mut Vec<u8>) -> std::io::Result<()> {
    const ZEROED_AT_ONCE: usize = 1 << 20;
    out.reserve((expected + 1).saturating_sub(out.len()));
    let mut filled = 0;
    loop {
        if filled == out.len() {
            let spare = out.capacity() - out.len();
            let more = if spare > 0 { spare.min(ZEROED_AT_ONCE) } else { out.len().max(ZEROED_AT_ONCE) };
            out.resize(out.len() + more, 0);
        }
        match decoder.read(&mut out[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                out.clear();
                return Err(e);
            }
        }
    }
    out.truncate(filled);
    Ok(())
}

/// The size of the unzipped text, from the gzip trailer (ISIZE: the last member's size modulo
/// 4 GiB), so the text is inflated into one buffer of the right size instead of growing it by
/// doubling (each growth copies everything inflated so far). Only a hint: a multi-member or
/// hostile file gets the buffer grown as needed, and a hint beyond deflate's largest ratio is
/// not believed.
fn inflated_size_hint(gzip: &[u8]) -> usize {
    const DEFLATE_MAX_RATIO: usize = 1032;
    let fallback = gzip.len() * 8;
    let Some(trailer) = gzip.len().checked_sub(4).and_then(|start| gzip.get(start..)) else { return fallback };
    let isize = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]) as usize;
    if isize > gzip.len().saturating_mul(DEFLATE_MAX_RATIO) {
        return fallback;
    }
    // Filled exactly, read_to_end probes for the end of the stream with a small read of its own.
    isize
}

fn decode_text<'a>(file: &str, bytes: &'a [u8]) -> Result<&'a str, SourceError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| SourceError::Utf8 { file: file.to_owned(), offset: e.valid_up_to() })
}

fn json_error(file: &str, e: serde_json::Error) -> SourceError {
    SourceError::Json { file: file.to_owned(), line: e.line(), column: e.column(), message: strip_position(&e.to_string()) }
}

/// serde_json appends " at line L column C" to its messages; we report those separately.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

fn visit_text<E, F>(file: &str, text: &str, check: HeaderCheck<'_>, visit: &mut F) -> Result<(), E>
where
    E: From<SourceError>,
    F: FnMut(RawResource<'_>) -> Result<(), E>,
{
    if let Some(entries) = single_bundle_entries(text) {
        return visit_entries(file, entries, check, visit);
    }
    let values: Vec<&RawValue> = serde_json::Deserializer::from_str(text)
        .into_iter::<&RawValue>()
        .collect::<Result<_, _>>()
        .map_err(|e| json_error(file, e))?;
    if values.is_empty() {
        return Err(SourceError::Resource { file: file.to_owned(), location: "file".into(), message: "is empty".into() }.into());
    }
    let ndjson = values.len() > 1;
    for (index, value) in values.into_iter().enumerate() {
        let position = if ndjson { format!("line {}", index + 1) } else { "resource".to_owned() };
        let (header, verified) = match leading_header(check, value) {
            Some(header) => (header, false),
            None => (parse_header(file, &position, value)?, true),
        };
        if header.resource_type == "Bundle" {
            visit_bundle(file, &position, value, check, visit)?;
        } else {
            visit_one(file, &position, header, verified, value, visit)?;
        }
    }
    Ok(())
}

/// The entries of a file that holds one Bundle and nothing else (a searchset page, an `$export`
/// collection), read in one pass; `None` for any other file, and for any file this pass finds
/// fault with. The general path then reads it again, and reports the fault as it always has: this
/// pass only spares good Bundles the two passes of that path (the file's values, then the
/// Bundle's entries).
fn single_bundle_entries(text: &str) -> Option<Vec<EntryShape<'_>>> {
    let mut de = serde_json::Deserializer::from_str(text);
    let entries = de.deserialize_map(BundleVisitor(std::marker::PhantomData::<Vec<EntryShape<'_>>>)).ok()?;
    de.end().ok()?;
    Some(entries)
}

/// A Bundle read in one pass, its entries by `.0` (a seed): the members `resourceType` (which
/// must be `Bundle`, before the entries), `id` and `entry` each at most once, the rest skipped;
/// anything else is an error, and a reason for the caller to take the general path. The entries
/// of a Bundle without any are the seed's default.
struct BundleVisitor<S>(S);

impl<'de, S> Visitor<'de> for BundleVisitor<S>
where
    S: DeserializeSeed<'de>,
    S::Value: Default,
{
    type Value = S::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a FHIR Bundle")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<S::Value, A::Error> {
        use serde::de::Error;
        let (mut resource_type, mut id, mut seed, mut entries) = (None, None, Some(self.0), None);
        while let Some(key) = map.next_key::<&'de str>()? {
            match key {
                "resourceType" if resource_type.is_none() => resource_type = Some(map.next_value::<&'de str>()?),
                "id" if id.is_none() => id = Some(map.next_value::<Option<&'de str>>()?),
                // The Bundle's type comes first in every Bundle a server writes: its entries are
                // not read before it is known to be one.
                "entry" => match (resource_type, seed.take()) {
                    (Some("Bundle"), Some(seed)) => entries = Some(map.next_value_seed(seed)?),
                    _ => return Err(A::Error::custom("the entries given twice, or before the type")),
                },
                "resourceType" | "id" => return Err(A::Error::custom("a member given twice")),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        match resource_type {
            Some("Bundle") => Ok(entries.unwrap_or_default()),
            _ => Err(A::Error::custom("not a Bundle")),
        }
    }
}

struct ParsedHeader<'a> {
    resource_type: &'a str,
    id: Option<&'a str>,
}

fn parse_header<'a>(file: &str, position: &str, value: &'a RawValue) -> Result<ParsedHeader<'a>, SourceError> {
    let resource_error = |message: String| SourceError::Resource { file: file.to_owned(), location: position.to_owned(), message };
    if !value.get().trim_start().starts_with('{') {
        return Err(resource_error("expected a JSON object (a FHIR resource)".into()));
    }
    let header: Header<'a> =
        serde_json::from_str(value.get()).map_err(|e| resource_error(format!("field resourceType or id: {}", strip_position(&e.to_string()))))?;
    let resource_type = header.resource_type.ok_or_else(|| resource_error("field resourceType: missing".into()))?;
    Ok(ParsedHeader { resource_type, id: header.id })
}

fn visit_bundle<E, F>(file: &str, position: &str, value: &RawValue, check: HeaderCheck<'_>, visit: &mut F) -> Result<(), E>
where
    E: From<SourceError>,
    F: FnMut(RawResource<'_>) -> Result<(), E>,
{
    let bundle: BundleShape<'_> = serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(value.get())).map_err(|e| {
        SourceError::Resource { file: file.to_owned(), location: format!("{position} (Bundle)"), message: format!("field {}: {}", e.path(), strip_position(&e.inner().to_string())) }
    })?;
    visit_entries(file, bundle.entry, check, visit)
}

fn visit_entries<E, F>(file: &str, entries: Vec<EntryShape<'_>>, check: HeaderCheck<'_>, visit: &mut F) -> Result<(), E>
where
    E: From<SourceError>,
    F: FnMut(RawResource<'_>) -> Result<(), E>,
{
    for (index, entry) in entries.into_iter().enumerate() {
        let Some(resource) = entry.resource else { continue };
        let entry_position = format!("entry[{index}]");
        let (header, verified) = match leading_header(check, resource) {
            Some(header) => (header, false),
            None => (parse_header(file, &entry_position, resource)?, true),
        };
        if header.resource_type == "Bundle" {
            return Err(SourceError::Resource {
                file: file.to_owned(),
                location: entry_position,
                message: "a Bundle inside a Bundle is not a ROR export; give the inner Bundle as its own file".into(),
            }
            .into());
        }
        visit_one(file, &entry_position, header, verified, resource, visit)?;
    }
    Ok(())
}

/// `resourceType` and `id` when the resource opens with them, as plain strings (no escape), and
/// `check` defers the full check for its type. Only what `parse_header` would read from such a
/// resource when neither member appears a second time; the consumer makes sure of that.
fn leading_header<'a>(check: HeaderCheck<'_>, value: &'a RawValue) -> Option<ParsedHeader<'a>> {
    let HeaderCheck::DeferFor(types) = check else { return None };
    let mut rest = value.get();
    for token in ["{", "\"resourceType\"", ":"] {
        skip_token(&mut rest, token)?;
    }
    let resource_type = plain_string(&mut rest)?;
    for token in [",", "\"id\"", ":"] {
        skip_token(&mut rest, token)?;
    }
    let id = plain_string(&mut rest)?;
    types.contains(&resource_type).then_some(ParsedHeader { resource_type, id: Some(id) })
}

/// JSON's four whitespace characters (not Unicode's).
const JSON_WHITESPACE: &[char] = &[' ', '\t', '\n', '\r'];

/// Move `rest` past whitespace and `token`, if `token` comes next.
fn skip_token(rest: &mut &str, token: &str) -> Option<()> {
    *rest = rest.trim_start_matches(JSON_WHITESPACE).strip_prefix(token)?;
    Some(())
}

/// A JSON string without escapes at the start of `rest` (after whitespace), its content borrowed;
/// `rest` moves past it. The text is already known to be valid JSON.
fn plain_string<'a>(rest: &mut &'a str) -> Option<&'a str> {
    let body = rest.trim_start_matches(JSON_WHITESPACE).strip_prefix('"')?;
    let end = body.find(['"', '\\'])?;
    if body.as_bytes()[end] != b'"' {
        return None;
    }
    *rest = &body[end + 1..];
    Some(&body[..end])
}

fn visit_one<E, F>(file: &str, position: &str, header: ParsedHeader<'_>, verified: bool, value: &RawValue, visit: &mut F) -> Result<(), E>
where
    E: From<SourceError>,
    F: FnMut(RawResource<'_>) -> Result<(), E>,
{
    if IGNORED_TYPES.contains(&header.resource_type) {
        return Ok(());
    }
    let raw = RawResource { file, position, resource_type: header.resource_type, id: "", json: value, header_verified: verified };
    match checked_id(file, position, &header, value) {
        Ok(id) => visit(RawResource { id, ..raw }),
        // A deferred header check comes first, as it would have at the door.
        Err(e) => {
            raw.verify_header()?;
            Err(e.into())
        }
    }
}

/// The resource's id, once it is known to be a FHIR id and the resource not oversized.
fn checked_id<'a>(file: &str, position: &str, header: &ParsedHeader<'a>, value: &RawValue) -> Result<&'a str, SourceError> {
    let location = || format!("{position} ({})", header.resource_type);
    match header.id {
        Some(id) if !id.trim().is_empty() && !is_fhir_id(id) => {
            Err(SourceError::Resource { file: file.to_owned(), location: location(), message: format!("field id: {id:?} is not a FHIR id (1 to 64 of A-Z a-z 0-9 - .)") })
        }
        Some(id) if value.get().len() > MAX_RESOURCE_BYTES => Err(SourceError::Resource {
            file: file.to_owned(),
            location: format!("{position} ({}/{id})", header.resource_type),
            message: format!("the resource is {} bytes, above the {} bytes one ROR resource may hold", value.get().len(), MAX_RESOURCE_BYTES),
        }),
        Some(id) if !id.trim().is_empty() => Ok(id),
        _ => Err(SourceError::Resource { file: file.to_owned(), location: location(), message: "field id: missing or empty".into() }),
    }
}

/// FHIR's id type: `[A-Za-z0-9\-\.]{1,64}`. Ids become primary keys, file-derived names and
/// pseudonym inputs, so one with a slash or a space is refused at the door.
fn is_fhir_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(text: &str) -> Result<Vec<(String, String, String)>, SourceError> {
        let mut out = Vec::new();
        visit_text::<SourceError, _>("f.json", text, HeaderCheck::Full, &mut |r: RawResource<'_>| {
            out.push((r.position.to_owned(), r.resource_type.to_owned(), r.id.to_owned()));
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn reads_bundles_single_resources_and_ndjson() {
        let bundle = r#"{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Location","id":"1"}},{"search":{"mode":"outcome"}},{"resource":{"resourceType":"OperationOutcome"}}]}"#;
        assert_eq!(collect(bundle).unwrap(), vec![("entry[0]".into(), "Location".into(), "1".into())]);
        assert_eq!(collect("{\"resourceType\":\"Practitioner\",\"id\":\"p\"}\r\n").unwrap().len(), 1);
        let nd = "{\"resourceType\":\"Location\",\"id\":\"1\"}\n{\"resourceType\":\"Location\",\"id\":\"2\"}\n";
        assert_eq!(collect(nd).unwrap()[1].0, "line 2");
    }

    #[test]
    fn errors_name_the_place() {
        let e = collect(r#"{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Location"}}]}"#).unwrap_err().to_string();
        assert!(e.contains("f.json: entry[0] (Location): field id"), "{e}");
        let e = collect(r#"{"resourceType":"Location","id":"../etc"}"#).unwrap_err().to_string();
        assert!(e.contains("field id: \"../etc\" is not a FHIR id"), "{e}");
        let e = collect("{\"resourceType\":\"Location\",\n \"id\": }").unwrap_err().to_string();
        assert!(e.contains("malformed JSON at line 2"), "{e}");
        let e = collect(r#"{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Bundle","id":"x"}}]}"#).unwrap_err().to_string();
        assert!(e.contains("Bundle inside a Bundle"), "{e}");
    }

    #[test]
    fn a_thread_reads_each_file_afresh_in_the_buffer_of_the_one_before() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, resources: usize, gzipped: bool| {
            let text: String = (0..resources).map(|i| format!("{{\"resourceType\":\"Location\",\"id\":\"{name}-{i}\"}}\n")).collect();
            let absolute = dir.path().join(name);
            if gzipped {
                let mut out = flate2::write::GzEncoder::new(std::fs::File::create(&absolute).unwrap(), flate2::Compression::fast());
                out.write_all(text.as_bytes()).unwrap();
                out.finish().unwrap();
            } else {
                std::fs::write(&absolute, text).unwrap();
            }
            SnapshotFile { path: name.to_owned(), bytes: 0, sha256: String::new(), absolute }
        };
        let ids = |file: &SnapshotFile| {
            let mut ids = Vec::new();
            for_each_resource_in_file::<SourceError, _>(file, HeaderCheck::Full, |r| {
                ids.push(r.id.to_owned());
                Ok(())
            })
            .unwrap();
            ids
        };
        // A large file, then smaller ones, zipped or not, then larger again: each gives only its
        // own resources.
        for (name, resources, gzipped) in [("a.ndjson.gz", 5_000, true), ("b.ndjson.gz", 2, true), ("c.ndjson", 3, false), ("d.ndjson.gz", 1, true), ("g.ndjson.gz", 20_000, true), ("h.ndjson.gz", 19_999, true)] {
            let read = ids(&file(name, resources, gzipped));
            assert_eq!(read, (0..resources).map(|i| format!("{name}-{i}")).collect::<Vec<_>>());
        }
        // A file that fails leaves nothing behind for the next one either.
        std::fs::write(dir.path().join("e.ndjson.gz"), b"not gzip").unwrap();
        let bad = SnapshotFile { path: "e.ndjson.gz".into(), bytes: 0, sha256: String::new(), absolute: dir.path().join("e.ndjson.gz") };
        assert!(for_each_resource_in_file::<SourceError, _>(&bad, HeaderCheck::Full, |_| Ok(())).is_err());
        assert_eq!(ids(&file("f.ndjson.gz", 1, true)), vec!["f.ndjson.gz-0".to_owned()]);
    }

    #[test]
    fn a_gzip_file_is_inflated_whole_whatever_its_trailer_says() {
        use std::io::Write;
        let member = |text: &[u8]| {
            let mut out = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            out.write_all(text).unwrap();
            out.finish().unwrap()
        };
        let (first, last) = (b"x".repeat(100_000), b"y".repeat(10));
        // Two members: the trailer read for the size is the last one's, 10 bytes.
        let gzip = [member(&first), member(&last)].concat();
        assert_eq!(inflated_size_hint(&gzip), 10);
        for held in [Vec::new(), b"z".repeat(7), b"z".repeat(300_000)] {
            let mut out = held;
            inflate_over(flate2::read::MultiGzDecoder::new(&gzip[..]), inflated_size_hint(&gzip), &mut out).unwrap();
            assert_eq!(out, [first.clone(), last.clone()].concat());
        }
        // A stream cut short fails, and leaves nothing behind.
        let mut out = b"z".repeat(50);
        assert!(inflate_over(flate2::read::MultiGzDecoder::new(&gzip[..gzip.len() / 2]), 100_010, &mut out).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn bom_is_accepted_and_bad_utf8_is_named() {
        assert!(decode_text("f", b"\xEF\xBB\xBF{}").is_ok());
        let e = decode_text("f", b"{\"a\":\"\xff\"}").unwrap_err().to_string();
        assert!(e.contains("offset 6"), "{e}");
    }
}
