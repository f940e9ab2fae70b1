//! Reading and writing the two ASC MHL file kinds with quick-xml: a generation
//! (`NNNN_<folder>_<date>_<time>Z.mhl`, schema `ASCMHL.xsd`) and the chain
//! (`ascmhl_chain.xml`, schema `ASCMHLDirectory.xsd`).
//!
//! Elements are written in the order of the schemas and of the reference
//! implementation: creatorinfo, processinfo (process, roothash, ignore), hashes; within
//! a `<hash>` the path, then one element per algorithm sorted by name. Reading goes by
//! local names, so a file with a namespace prefix reads the same.

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer};

use super::{Action, ChainEntry, DirectoryHash, FileHash, Generation, HashEntry, Item};
use crate::hash::Algorithm;

/// The namespace of generation files.
pub const HASHLIST_NAMESPACE: &str = "urn:ASC:MHL:v2.0";
/// The namespace of the chain file.
pub const CHAIN_NAMESPACE: &str = "urn:ASC:MHL:DIRECTORY:v2.0";

/// An element read from a file: its local name, attributes, text and children.
#[derive(Debug, Default)]
struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    text: String,
    children: Vec<Element>,
}

impl Element {
    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|child| child.name == name)
    }

    fn child_text(&self, name: &str) -> Option<String> {
        self.child(name).map(|child| child.text.clone())
    }
}

fn local_name(raw: &[u8]) -> String {
    let name = raw.rsplit(|&b| b == b':').next().unwrap_or(raw);
    String::from_utf8_lossy(name).into_owned()
}

fn start_element(start: &BytesStart<'_>) -> Result<Element, String> {
    let mut element = Element {
        name: local_name(start.name().as_ref()),
        ..Element::default()
    };
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|err| err.to_string())?;
        let value = attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|err| err.to_string())?
            .into_owned();
        element
            .attributes
            .push((local_name(attribute.key.as_ref()), value));
    }
    Ok(element)
}

/// Parses a whole document into its root element.
fn parse(text: &str) -> Result<Element, String> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let at = |reader: &Reader<&[u8]>, err: &dyn std::fmt::Display| {
        format!("XML error at byte {}: {err}", reader.buffer_position())
    };
    loop {
        match reader.read_event() {
            Ok(Event::Start(start)) => {
                stack.push(start_element(&start).map_err(|err| at(&reader, &err))?)
            }
            Ok(Event::Empty(start)) => {
                let element = start_element(&start).map_err(|err| at(&reader, &err))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => return Ok(element),
                }
            }
            Ok(Event::Text(text)) => {
                if let Some(current) = stack.last_mut() {
                    let decoded = text.decode().map_err(|err| at(&reader, &err))?;
                    let unescaped =
                        quick_xml::escape::unescape(&decoded).map_err(|err| at(&reader, &err))?;
                    current.text.push_str(&unescaped);
                }
            }
            Ok(Event::GeneralRef(reference)) => {
                if let Some(current) = stack.last_mut() {
                    let name = reference.decode().map_err(|err| at(&reader, &err))?;
                    let entity = format!("&{name};");
                    let unescaped =
                        quick_xml::escape::unescape(&entity).map_err(|err| at(&reader, &err))?;
                    current.text.push_str(&unescaped);
                }
            }
            Ok(Event::CData(data)) => {
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&String::from_utf8_lossy(&data));
                }
            }
            Ok(Event::End(_)) => {
                let mut element = stack
                    .pop()
                    .ok_or_else(|| at(&reader, &"unbalanced end tag"))?;
                element.text = element.text.trim().to_string();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => return Ok(element),
                }
            }
            Ok(Event::Eof) => return Err(at(&reader, &"unexpected end of file")),
            Ok(_) => {}
            Err(err) => return Err(at(&reader, &err)),
        }
    }
}

fn hash_entries(container: &Element) -> Vec<HashEntry> {
    container
        .children
        .iter()
        .filter_map(|child| {
            Some(HashEntry {
                algorithm: Algorithm::from_name(&child.name)?,
                hash: child.text.clone(),
                action: child.attribute("action").and_then(Action::from_name),
                hash_date: child.attribute("hashdate").map(str::to_string),
            })
        })
        .collect()
}

/// Reads a generation file's text.
pub fn read_generation(text: &str) -> Result<Generation, String> {
    let root = parse(text)?;
    if root.name != "hashlist" {
        return Err(format!("root element is <{}>, not <hashlist>", root.name));
    }
    let mut generation = Generation::default();
    if let Some(creator) = root.child("creatorinfo") {
        generation.creation_date = creator.child_text("creationdate").unwrap_or_default();
        generation.host_name = creator.child_text("hostname").unwrap_or_default();
        if let Some(tool) = creator.child("tool") {
            generation.tool_name = tool.text.clone();
            generation.tool_version = tool.attribute("version").unwrap_or_default().to_string();
        }
    }
    if let Some(process) = root.child("processinfo") {
        generation.process = process.child_text("process").unwrap_or_default();
        if let Some(root_hash) = process.child("roothash") {
            generation.root_hash = Some(directory_hash(root_hash, String::new()));
        }
        if let Some(ignore) = process.child("ignore") {
            generation.ignore = ignore
                .children
                .iter()
                .filter(|child| child.name == "pattern")
                .map(|child| child.text.clone())
                .collect();
        }
    }
    if let Some(hashes) = root.child("hashes") {
        for item in &hashes.children {
            let path_element = item.child("path");
            let path = path_element
                .map(|path| path.text.clone())
                .unwrap_or_default();
            let last_modified = path_element
                .and_then(|path| path.attribute("lastmodificationdate"))
                .map(str::to_string);
            match item.name.as_str() {
                "hash" => generation.items.push(Item::File(FileHash {
                    path,
                    size: path_element
                        .and_then(|path| path.attribute("size"))
                        .and_then(|size| size.parse().ok()),
                    last_modified,
                    hashes: hash_entries(item),
                    previous_path: item.child_text("previousPath"),
                })),
                "directoryhash" => {
                    let mut directory = directory_hash(item, path);
                    directory.last_modified = last_modified;
                    generation.items.push(Item::Directory(directory));
                }
                _ => {}
            }
        }
    }
    Ok(generation)
}

fn directory_hash(element: &Element, path: String) -> DirectoryHash {
    DirectoryHash {
        path,
        last_modified: None,
        content: element
            .child("content")
            .map(hash_entries)
            .unwrap_or_default(),
        structure: element
            .child("structure")
            .map(hash_entries)
            .unwrap_or_default(),
    }
}

/// Reads the chain file's text.
pub fn read_chain(text: &str) -> Result<Vec<ChainEntry>, String> {
    let root = parse(text)?;
    if root.name != "ascmhldirectory" {
        return Err(format!(
            "root element is <{}>, not <ascmhldirectory>",
            root.name
        ));
    }
    root.children
        .iter()
        .filter(|child| child.name == "hashlist")
        .map(|entry| {
            Ok(ChainEntry {
                sequence: entry
                    .attribute("sequencenr")
                    .and_then(|number| number.parse().ok())
                    .ok_or("a <hashlist> without a sequencenr")?,
                path: entry
                    .child_text("path")
                    .ok_or("a <hashlist> without a <path>")?,
                c4: entry
                    .child_text("c4")
                    .ok_or("a <hashlist> without a <c4>")?,
            })
        })
        .collect()
}

type XmlWriter = Writer<Vec<u8>>;

fn io_never_fails(result: std::io::Result<()>) {
    // Writing into a Vec cannot fail.
    result.expect("writing XML into memory");
}

fn open(writer: &mut XmlWriter, name: &str, attributes: &[(&str, &str)]) {
    let mut start = BytesStart::new(name);
    for attribute in attributes {
        start.push_attribute(*attribute);
    }
    io_never_fails(writer.write_event(Event::Start(start)));
}

fn close(writer: &mut XmlWriter, name: &str) {
    io_never_fails(writer.write_event(Event::End(BytesEnd::new(name))));
}

fn text_element(writer: &mut XmlWriter, name: &str, attributes: &[(&str, &str)], text: &str) {
    io_never_fails(
        writer
            .create_element(name)
            .with_attributes(attributes.iter().copied())
            .write_text_content(BytesText::new(text))
            .map(|_| ()),
    );
}

fn document(writer: &mut XmlWriter) {
    io_never_fails(writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None))));
}

fn write_entries(writer: &mut XmlWriter, entries: &[HashEntry]) {
    let mut sorted: Vec<&HashEntry> = entries.iter().collect();
    sorted.sort_by_key(|entry| entry.algorithm.name());
    for entry in sorted {
        let mut attributes = Vec::new();
        if let Some(action) = entry.action {
            attributes.push(("action", action.name()));
        }
        if let Some(date) = &entry.hash_date {
            attributes.push(("hashdate", date.as_str()));
        }
        text_element(writer, entry.algorithm.name(), &attributes, &entry.hash);
    }
}

fn write_directory_hash(writer: &mut XmlWriter, directory: &DirectoryHash) {
    open(writer, "content", &[]);
    write_entries(writer, &directory.content);
    close(writer, "content");
    open(writer, "structure", &[]);
    write_entries(writer, &directory.structure);
    close(writer, "structure");
}

/// The text of a generation file.
pub fn write_generation(generation: &Generation) -> Vec<u8> {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    document(&mut writer);
    open(
        &mut writer,
        "hashlist",
        &[("version", "2.0"), ("xmlns", HASHLIST_NAMESPACE)],
    );
    open(&mut writer, "creatorinfo", &[]);
    text_element(&mut writer, "creationdate", &[], &generation.creation_date);
    text_element(&mut writer, "hostname", &[], &generation.host_name);
    text_element(
        &mut writer,
        "tool",
        &[("version", &generation.tool_version)],
        &generation.tool_name,
    );
    close(&mut writer, "creatorinfo");
    open(&mut writer, "processinfo", &[]);
    text_element(&mut writer, "process", &[], &generation.process);
    if let Some(root_hash) = &generation.root_hash {
        open(&mut writer, "roothash", &[]);
        write_directory_hash(&mut writer, root_hash);
        close(&mut writer, "roothash");
    }
    if !generation.ignore.is_empty() {
        open(&mut writer, "ignore", &[]);
        for pattern in &generation.ignore {
            text_element(&mut writer, "pattern", &[], pattern);
        }
        close(&mut writer, "ignore");
    }
    close(&mut writer, "processinfo");
    // The schema wants at least one entry inside <hashes>; an empty folder has none.
    if !generation.items.is_empty() {
        open(&mut writer, "hashes", &[]);
        for item in &generation.items {
            match item {
                Item::File(file) => {
                    open(&mut writer, "hash", &[]);
                    let size = file.size.map(|size| size.to_string());
                    let mut attributes = Vec::new();
                    if let Some(size) = &size {
                        attributes.push(("size", size.as_str()));
                    }
                    if let Some(date) = &file.last_modified {
                        attributes.push(("lastmodificationdate", date.as_str()));
                    }
                    text_element(&mut writer, "path", &attributes, &file.path);
                    write_entries(&mut writer, &file.hashes);
                    if let Some(previous) = &file.previous_path {
                        text_element(&mut writer, "previousPath", &[], previous);
                    }
                    close(&mut writer, "hash");
                }
                Item::Directory(directory) => {
                    open(&mut writer, "directoryhash", &[]);
                    let mut attributes = Vec::new();
                    if let Some(date) = &directory.last_modified {
                        attributes.push(("lastmodificationdate", date.as_str()));
                    }
                    text_element(&mut writer, "path", &attributes, &directory.path);
                    write_directory_hash(&mut writer, directory);
                    close(&mut writer, "directoryhash");
                }
            }
        }
        close(&mut writer, "hashes");
    }
    close(&mut writer, "hashlist");
    let mut bytes = writer.into_inner();
    bytes.push(b'\n');
    bytes
}

/// The text of a chain file.
pub fn write_chain(entries: &[ChainEntry]) -> Vec<u8> {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    document(&mut writer);
    open(
        &mut writer,
        "ascmhldirectory",
        &[("xmlns", CHAIN_NAMESPACE)],
    );
    for entry in entries {
        let sequence = entry.sequence.to_string();
        open(&mut writer, "hashlist", &[("sequencenr", &sequence)]);
        text_element(&mut writer, "path", &[], &entry.path);
        text_element(&mut writer, "c4", &[], &entry.c4);
        close(&mut writer, "hashlist");
    }
    close(&mut writer, "ascmhldirectory");
    let mut bytes = writer.into_inner();
    bytes.push(b'\n');
    bytes
}
