//! One pass over a Bundle for a consumer that deserialises resources into its own structs: each
//! entry's resource goes straight from the file's text into the consumer's struct, and to the
//! consumer, instead of being scanned once to find where it ends (`RawValue`) and again to
//! deserialise it. That first scan was about a sixth of the flatten stage's CPU.
//!
//! The pass takes only what the general path would accept without a word, and gives up at
//! anything else: the caller then forgets what it was given and reads the file the general way,
//! which reports the fault exactly as it always has. It gives up on a resource whose
//! `resourceType` is not its first member or is escaped, a type or id member given twice, an id
//! that is not a FHIR id or is escaped, a Bundle inside the Bundle, any member of the wrong type,
//! a file with more than the Bundle, an entry whose span could hold a resource larger than
//! `MAX_RESOURCE_BYTES` (the bound is measured between entries, from where their first member
//! names lie in the text; the general path then measures the resource itself), and a resource
//! the consumer refuses (the general path then finds the same refusal, or an earlier fault).

use serde::de::value::{BorrowedStrDeserializer, MapAccessDeserializer};
use serde::de::{DeserializeSeed, Error, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::{is_fhir_id, BundleVisitor, Header, TypedResource, IGNORED_TYPES, MAX_RESOURCE_BYTES};

/// A consumer's own parse of the resource types it reads in full.
pub trait TypedResources {
    /// A resource of one of its types, deserialised, borrowing from the file's text.
    type Resource<'a>;

    /// Whether it reads resources of this type (the others are only counted, by type and id).
    fn parses(&self, resource_type: &str) -> bool;

    /// A resource of a type it `parses`, from the whole resource object (its `resourceType` member
    /// included), with the resource's id as its text holds it. An error for any fault, an id that
    /// the struct could not borrow from the text (an escaped one) included.
    fn parse<'de, D: Deserializer<'de>>(&self, resource_type: &'de str, resource: D) -> Result<(Self::Resource<'de>, &'de str), D::Error>;
}

/// Give `visit` the resources of a file that holds one Bundle, each deserialised by `parser`, in
/// entry order (search outcomes left out, as the general path leaves them). False when the pass
/// gave up: `visit` may have been given some resources by then, which the caller must forget.
pub fn single_bundle<'a, P, F>(text: &'a str, parser: &P, visit: &mut F) -> bool
where
    P: TypedResources,
    F: FnMut(TypedResource<'a, P::Resource<'a>>) -> bool,
{
    let mut de = serde_json::Deserializer::from_str(text);
    let text_end = text.as_ptr() as usize + text.len();
    de.deserialize_map(BundleVisitor(EntriesSeed { parser, visit, text_end })).is_ok() && de.end().is_ok()
}

/// The entries, each resource given to `visit`.
struct EntriesSeed<'p, P, F> {
    parser: &'p P,
    visit: &'p mut F,
    /// The address just past the file's text.
    text_end: usize,
}

impl<'de, P, F> DeserializeSeed<'de> for EntriesSeed<'_, P, F>
where
    P: TypedResources,
    F: FnMut(TypedResource<'de, P::Resource<'de>>) -> bool,
{
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, P, F> Visitor<'de> for EntriesSeed<'_, P, F>
where
    P: TypedResources,
    F: FnMut(TypedResource<'de, P::Resource<'de>>) -> bool,
{
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the Bundle's entries")
    }

    /// Each resource is given once the next entry begins: its entry's span, which bounds its
    /// size, ends there (the last one's at the end of the text).
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut pending: Option<(usize, TypedResource<'de, P::Resource<'de>>)> = None;
        let mut give = |start: usize, end: usize, resource| {
            if end - start <= MAX_RESOURCE_BYTES && (self.visit)(resource) {
                Ok(())
            } else {
                Err(A::Error::custom("a resource possibly too large, or refused"))
            }
        };
        let mut index = 0;
        while let Some(entry) = seq.next_element_seed(EntrySeed { parser: self.parser })? {
            if let Some(start) = entry.first_member {
                if let Some((previous_start, resource)) = pending.take() {
                    give(previous_start, start, resource)?;
                }
                if let Some(resource) = entry.resource.filter(|r| !IGNORED_TYPES.contains(&r.resource_type)) {
                    let id = resource.id.filter(|id| is_fhir_id(id)).ok_or_else(|| A::Error::custom("an id that is not a FHIR id"))?;
                    pending = Some((start, TypedResource { index, resource_type: resource.resource_type, id, typed: resource.typed }));
                }
            }
            index += 1;
        }
        if let Some((start, resource)) = pending {
            give(start, self.text_end, resource)?;
        }
        Ok(())
    }
}

/// An entry as the one pass read it.
struct Entry<'a, T> {
    /// Where the name of its first member lies in the text (an address), None when it has none.
    first_member: Option<usize>,
    resource: Option<Resource<'a, T>>,
}

struct Resource<'a, T> {
    resource_type: &'a str,
    id: Option<&'a str>,
    typed: Option<T>,
}

/// An entry: its `resource` (at most once), the rest skipped.
struct EntrySeed<'p, P> {
    parser: &'p P,
}

impl<'de, P: TypedResources> DeserializeSeed<'de> for EntrySeed<'_, P> {
    type Value = Entry<'de, P::Resource<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, P: TypedResources> Visitor<'de> for EntrySeed<'_, P> {
    type Value = Entry<'de, P::Resource<'de>>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a Bundle entry")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut first_member, mut resource) = (None, None);
        while let Some(key) = map.next_key::<&'de str>()? {
            first_member.get_or_insert(key.as_ptr() as usize);
            match key {
                "resource" if resource.is_none() => resource = Some(map.next_value_seed(ResourceSeed { parser: self.parser })?),
                "resource" => return Err(A::Error::custom("a member given twice")),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Entry { first_member, resource: resource.flatten() })
    }
}

/// An entry's resource, or its absence (`null`).
struct ResourceSeed<'p, P> {
    parser: &'p P,
}

impl<'de, P: TypedResources> DeserializeSeed<'de> for ResourceSeed<'_, P> {
    type Value = Option<Resource<'de, P::Resource<'de>>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, P: TypedResources> Visitor<'de> for ResourceSeed<'_, P> {
    type Value = Option<Resource<'de, P::Resource<'de>>>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a FHIR resource")
    }

    fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(ResourceObject { parser: self.parser }).map(Some)
    }
}

/// A resource's object: its `resourceType` first, then the consumer's parse or the header's.
struct ResourceObject<'p, P> {
    parser: &'p P,
}

impl<'de, P: TypedResources> Visitor<'de> for ResourceObject<'_, P> {
    type Value = Resource<'de, P::Resource<'de>>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a FHIR resource")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        if map.next_key::<&'de str>()? != Some("resourceType") {
            return Err(A::Error::custom("resourceType is not the first member"));
        }
        let resource_type: &'de str = map.next_value()?;
        if resource_type == "Bundle" {
            return Err(A::Error::custom("a Bundle inside a Bundle"));
        }
        // The whole object, its first member given again, to a struct that declares both header
        // members: naming either twice fails it.
        let whole = MapAccessDeserializer::new(Replay { first: Some(resource_type), value_pending: false, rest: map });
        if self.parser.parses(resource_type) {
            let (typed, id) = self.parser.parse(resource_type, whole)?;
            Ok(Resource { resource_type, id: Some(id), typed: Some(typed) })
        } else {
            let header = Header::deserialize(whole)?;
            Ok(Resource { resource_type, id: header.id, typed: None })
        }
    }
}

/// A resource's members with its `resourceType`, already read, given again first.
struct Replay<'de, A> {
    first: Option<&'de str>,
    value_pending: bool,
    rest: A,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Replay<'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        if self.first.is_some() && !self.value_pending {
            self.value_pending = true;
            return seed.deserialize(BorrowedStrDeserializer::new("resourceType")).map(Some);
        }
        self.rest.next_key_seed(seed)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        if let Some(resource_type) = self.first.filter(|_| self.value_pending) {
            self.first = None;
            return seed.deserialize(ReplayedType(BorrowedStrDeserializer::new(resource_type)));
        }
        self.rest.next_value_seed(seed)
    }
}

/// The `resourceType` given again: a borrowed string, also where an optional one is asked for.
struct ReplayedType<'de, E>(BorrowedStrDeserializer<'de, E>);

impl<'de, E: Error> Deserializer<'de> for ReplayedType<'de, E> {
    type Error = E;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        self.0.deserialize_any(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_some(self.0)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::super::{visit_text, HeaderCheck, RawResource};
    use super::*;
    use crate::source::SourceError;

    /// A consumer that parses its places, and only them.
    struct Places;

    #[derive(Debug, PartialEq, Deserialize)]
    struct Place<'a> {
        #[serde(rename = "resourceType", default)]
        resource_type: IgnoredAny,
        id: &'a str,
        #[serde(borrow)]
        name: Option<std::borrow::Cow<'a, str>>,
    }

    impl TypedResources for Places {
        type Resource<'a> = Place<'a>;

        fn parses(&self, resource_type: &str) -> bool {
            resource_type == "Location"
        }

        fn parse<'de, D: Deserializer<'de>>(&self, _: &'de str, resource: D) -> Result<(Place<'de>, &'de str), D::Error> {
            let place = Place::deserialize(resource)?;
            let id = place.id;
            Ok((place, id))
        }
    }

    /// Position, type, id and, for a place, its name.
    type Seen = (String, String, String, Option<String>);

    /// What the one pass gives of each resource.
    fn one_pass(text: &str) -> Option<Vec<Seen>> {
        let mut found = Vec::new();
        let read = single_bundle(text, &Places, &mut |r: TypedResource<'_, Place<'_>>| {
            found.push((r.position(), r.resource_type.to_owned(), r.id.to_owned(), r.typed.and_then(|p| p.name.map(String::from))));
            true
        });
        read.then_some(found)
    }

    /// The same, the general way: the resources found, then each place parsed from its text.
    fn general(text: &str) -> Result<Vec<Seen>, SourceError> {
        let mut out = Vec::new();
        visit_text::<SourceError, _>("f.json", text, HeaderCheck::DeferFor(&["Location"]), &mut |r: RawResource<'_>| {
            let name = (r.resource_type == "Location").then(|| serde_json::from_str::<Place<'_>>(r.json.get()).unwrap().name.map(String::from)).flatten();
            out.push((r.position.to_owned(), r.resource_type.to_owned(), r.id.to_owned(), name));
            Ok(())
        })?;
        Ok(out)
    }

    fn bundle(entries: &[&str]) -> String {
        format!("{{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"total\":3,\"entry\":[{}],\"link\":[]}}\n", entries.join(",\n "))
    }

    #[test]
    fn one_pass_finds_what_the_general_path_finds() {
        let text = bundle(&[
            r#"{"fullUrl":"https://x/Location/1","resource":{"resourceType":"Location","id":"1","name":"Hall A","meta":{"tag":[]}},"search":{"mode":"match"}}"#,
            r#"{"search":{"mode":"outcome"}}"#,
            r#"{"resource":null}"#,
            r#"{}"#,
            r#"{"resource":{"resourceType":"OperationOutcome","issue":[]}}"#,
            r#"{"resource" : { "resourceType" : "Organization" , "name" : "EJ \"x\"", "id" : "org-1" } }"#,
            r#"{"resource":{"resourceType":"Location","id":"2.b-C","name":"Caf\u00e9"}}"#,
        ]);
        let found = one_pass(&text).expect("a Bundle the one pass reads");
        assert_eq!(found, general(&text).unwrap());
        assert_eq!(found.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(), ["entry[0]", "entry[5]", "entry[6]"]);
        assert_eq!(found[2].3.as_deref(), Some("Café"));
        assert_eq!(one_pass(&bundle(&[])), Some(vec![]));
    }

    #[test]
    fn one_pass_gives_up_where_the_general_path_has_anything_to_check() {
        let location = |body: &str| bundle(&[&format!("{{\"resource\":{{{body}}}}}")]);
        let cases = [
            ("resourceType not first", location(r#""id":"1","resourceType":"Location""#)),
            ("resourceType escaped", location(r#""resourceType":"Loc\u0061tion","id":"1""#)),
            ("resourceType twice", location(r#""resourceType":"Location","id":"1","resourceType":"Location""#)),
            ("id twice", location(r#""resourceType":"Location","id":"1","id":"2""#)),
            ("id twice, a type counted only", location(r#""resourceType":"Organization","id":"1","id":"2""#)),
            ("resourceType twice, a type counted only", location(r#""resourceType":"Organization","resourceType":"Organization","id":"1""#)),
            ("not a FHIR id", location(r#""resourceType":"Location","id":"../etc""#)),
            ("no id", location(r#""resourceType":"Organization""#)),
            ("an empty id", location(r#""resourceType":"Location","id":"""#)),
            ("an escaped id", location(r#""resourceType":"Location","id":"a\u0062""#)),
            ("a member of the wrong type", location(r#""resourceType":"Location","id":"1","name":5"#)),
            ("a Bundle inside", location(r#""resourceType":"Bundle","id":"1""#)),
            ("a resource that is not an object", bundle(&[r#"{"resource":"Location/1"}"#])),
            ("resource twice in an entry", bundle(&[r#"{"resource":{"resourceType":"Location","id":"1"},"resource":null}"#])),
            ("entry not a list", r#"{"resourceType":"Bundle","entry":null}"#.to_owned()),
            ("entry twice", r#"{"resourceType":"Bundle","entry":[],"entry":[]}"#.to_owned()),
            ("not a Bundle", r#"{"resourceType":"Location","id":"1"}"#.to_owned()),
            ("a second value after the Bundle", bundle(&[]) + "{}"),
            ("malformed JSON", r#"{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Location","id":"1"}]}"#.to_owned()),
        ];
        for (what, text) in cases {
            assert!(one_pass(&text).is_none(), "{what}: {text}");
        }
    }

    #[test]
    fn an_entry_that_could_hold_an_oversized_resource_goes_the_general_way() {
        let name = "x".repeat(MAX_RESOURCE_BYTES);
        let large = bundle(&[&format!(r#"{{"resource":{{"resourceType":"Location","id":"1","name":"{name}"}}}}"#), r#"{"resource":{"resourceType":"Location","id":"2"}}"#]);
        assert!(one_pass(&large).is_none());
        let e = general(&large).unwrap_err().to_string();
        assert!(e.contains("entry[0] (Location/1)") && e.contains("bytes"), "{e}");
        // Just under the limit, with what follows the resource in its entry counted too: read.
        let name = "x".repeat(MAX_RESOURCE_BYTES - 200);
        let fits = bundle(&[&format!(r#"{{"resource":{{"resourceType":"Location","id":"1","name":"{name}"}}}}"#), r#"{"resource":{"resourceType":"Location","id":"2"}}"#]);
        assert_eq!(one_pass(&fits).unwrap(), general(&fits).unwrap());
    }
}
