//! Files the guest sends back base64-encoded over its second serial port.
//!
//! `/init` writes, for each output file, a header line `PROCFS_TRACE_FILE <nonce> <path> <size>`,
//! the file in base64 (any line wrapping), and `PROCFS_TRACE_FILE_END <nonce>`.

use anyhow::{bail, Context, Result};

/// First word of the header line before a file's base64 text.
pub const BEGIN_TAG: &str = "PROCFS_TRACE_FILE";

/// First word of the line after a file's base64 text.
pub const END_TAG: &str = "PROCFS_TRACE_FILE_END";

/// A file the guest sent back.
#[derive(Debug, PartialEq, Eq)]
pub struct GuestFile {
    /// Its path inside the guest.
    pub path: String,
    /// Its contents.
    pub data: Vec<u8>,
}

struct Open<'a> {
    path: &'a str,
    size: usize,
    base64: String,
}

/// Finds every file sent with `nonce` in the text of the result serial port.
///
/// Blocks with another nonce are ignored; a block of ours that is cut short, does not decode,
/// or whose length differs from its header is an error.
pub fn parse(text: &str, nonce: &str) -> Result<Vec<GuestFile>> {
    let mut files = Vec::new();
    let mut open: Option<Open> = None;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        let mut words = line.split_whitespace();
        let tag = words.next();
        let ours =
            tag.is_some_and(|t| t == BEGIN_TAG || t == END_TAG) && words.next() == Some(nonce);
        match (open.take(), tag) {
            (Some(file), Some(END_TAG)) if ours => files.push(finish(file)?),
            (Some(file), Some(BEGIN_TAG | END_TAG | crate::marker::TAG)) => bail!(
                "guest file {} was cut short: `{line}` came before its end line \
                 ({} base64 characters read)",
                file.path,
                file.base64.len()
            ),
            (Some(mut file), _) => {
                file.base64
                    .extend(line.chars().filter(|c| !c.is_whitespace()));
                open = Some(file);
            }
            (None, Some(BEGIN_TAG)) if ours => {
                let (Some(path), Some(size), None) = (words.next(), words.next(), words.next())
                else {
                    bail!("malformed guest file header `{line}` (want: {BEGIN_TAG} <nonce> <path> <size>)");
                };
                let size = size
                    .parse()
                    .with_context(|| format!("bad size in guest file header `{line}`"))?;
                open = Some(Open {
                    path,
                    size,
                    base64: String::new(),
                });
            }
            (None, _) => {}
        }
    }
    if let Some(file) = open {
        bail!(
            "guest file {} was cut short: the serial output ended before its end line \
             ({} base64 characters read)",
            file.path,
            file.base64.len()
        );
    }
    Ok(files)
}

fn finish(file: Open) -> Result<GuestFile> {
    let data = decode_base64(&file.base64)
        .with_context(|| format!("guest file {} arrived damaged", file.path))?;
    if data.len() != file.size {
        bail!(
            "guest file {} arrived with {} bytes, but the guest said it has {}",
            file.path,
            data.len(),
            file.size
        );
    }
    Ok(GuestFile {
        path: file.path.to_owned(),
        data,
    })
}

fn sextet(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Decodes standard padded base64 (RFC 4648 section 4, as `base64` writes it) without whitespace.
pub fn decode_base64(text: &str) -> Result<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        bail!(
            "base64 text has {} characters, not a multiple of 4",
            bytes.len()
        );
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let quads = bytes.len() / 4;
    for (i, quad) in bytes.chunks_exact(4).enumerate() {
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != quads) {
            bail!("misplaced base64 padding in group {}", i + 1);
        }
        let mut n = 0u32;
        for &c in &quad[..4 - pad] {
            let v = sextet(c).with_context(|| {
                format!(
                    "{:?} is not a base64 character (group {})",
                    c as char,
                    i + 1
                )
            })?;
            n = n << 6 | v;
        }
        n <<= 6 * pad as u32;
        let [_, a, b, c] = n.to_be_bytes();
        out.extend_from_slice(&[a, b, c][..3 - pad]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(nonce: &str, path: &str, size: usize, b64: &str) -> String {
        format!("{BEGIN_TAG} {nonce} {path} {size}\r\n{b64}\r\n{END_TAG} {nonce}\r\n")
    }

    #[test]
    fn decodes_rfc4648_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(decode_base64(enc).unwrap(), plain.as_bytes(), "{enc}");
        }
        assert_eq!(decode_base64("//7/AA==").unwrap(), [0xff, 0xfe, 0xff, 0]);
    }

    #[test]
    fn rejects_bad_base64() {
        assert!(decode_base64("Zm9").is_err());
        assert!(decode_base64("Zm9*").is_err());
        assert!(decode_base64("Zg==Zm9v").is_err());
        assert!(decode_base64("Z===").is_err());
    }

    #[test]
    fn matches_busybox_base64() {
        // Every byte value, through the same busybox the guest uses, wrapped at 76 columns.
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let dir = std::env::temp_dir().join(format!("xtask-b64-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("data");
        std::fs::write(&file, &data).unwrap();
        let out = std::process::Command::new("busybox")
            .arg("base64")
            .arg(&file)
            .output();
        let _ = std::fs::remove_dir_all(&dir);
        let Ok(out) = out else {
            eprintln!("busybox is not installed; skipping");
            return;
        };
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.lines().count() > 1, "expected wrapped output");
        let got = parse(&block("n1", "/tmp/x", 1000, &text), "n1").unwrap();
        assert_eq!(got[0].data, data);
    }

    #[test]
    fn right_nonce() {
        let text = format!(
            "noise\n{}PROCFS_TRACE_RESULT nonce=n1 rc=0\r\n",
            block("n1", "/tmp/a", 6, "Zm9v\r\nYmFy")
        );
        assert_eq!(
            parse(&text, "n1").unwrap(),
            [GuestFile {
                path: "/tmp/a".into(),
                data: b"foobar".to_vec()
            }]
        );
    }

    #[test]
    fn two_files_and_empty_file() {
        let text = block("n1", "/tmp/a", 3, "Zm9v") + &block("n1", "/tmp/b", 0, "");
        let got = parse(&text, "n1").unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].path, "/tmp/b");
        assert!(got[1].data.is_empty());
    }

    #[test]
    fn wrong_nonce_ignored() {
        let text = block("other", "/tmp/a", 3, "Zm9v") + &block("n1", "/tmp/b", 1, "Zg==");
        let got = parse(&text, "n1").unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].path, "/tmp/b");
        assert!(parse(&block("other", "/tmp/a", 3, "Zm9v"), "n1")
            .unwrap()
            .is_empty());
        // A foreign block cut short does not matter either.
        assert!(parse("PROCFS_TRACE_FILE other /tmp/a 3\nZm9v\n", "n1")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn truncated_is_an_error() {
        let full = block("n1", "/tmp/a", 6, "Zm9vYmFy");
        let cut = &full[..full.find(END_TAG).unwrap()];
        let err = parse(cut, "n1").unwrap_err().to_string();
        assert!(err.contains("cut short"), "{err}");
        // Cut mid-line: the base64 no longer decodes.
        assert!(parse(&block("n1", "/tmp/a", 6, "Zm9vYmF"), "n1").is_err());
        // The result line or a new header before the end line.
        let text = "PROCFS_TRACE_FILE n1 /tmp/a 6\nZm9v\nPROCFS_TRACE_RESULT nonce=n1 rc=0\n";
        assert!(parse(text, "n1").is_err());
        let text = "PROCFS_TRACE_FILE n1 /tmp/a 3\nPROCFS_TRACE_FILE n1 /tmp/b 3\nZm9v\nPROCFS_TRACE_FILE_END n1\n";
        assert!(parse(text, "n1").is_err());
    }

    #[test]
    fn size_mismatch_is_an_error() {
        let err = parse(&block("n1", "/tmp/a", 7, "Zm9vYmFy"), "n1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("6 bytes") && err.contains("7"), "{err}");
    }

    #[test]
    fn malformed_header_is_an_error() {
        assert!(parse("PROCFS_TRACE_FILE n1 /tmp/a\n", "n1").is_err());
        assert!(parse("PROCFS_TRACE_FILE n1 /tmp/a x\n", "n1").is_err());
        assert!(parse("PROCFS_TRACE_FILE n1 /tmp/a 1 2\n", "n1").is_err());
    }
}
