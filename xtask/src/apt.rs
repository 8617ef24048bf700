//! apt with a private state dir, so any Debian suite can be queried without touching the host's apt.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::run;

/// The host's apt configuration that names the Debian mirror.
pub const SOURCES_FILE: &str = "/etc/apt/sources.list.d/debian.sources";

/// Mirror URIs taken from the host's apt configuration.
#[derive(Debug, PartialEq, Eq)]
pub struct Mirror {
    /// URI of the main archive (the one serving `bookworm`, `sid`, ...).
    pub archive: String,
    /// URI of the security archive (serving `bookworm-security`), if configured.
    pub security: Option<String>,
    /// Keyring file to verify both with, if the configuration names one.
    pub signed_by: Option<String>,
}

/// Reads the mirror from [`SOURCES_FILE`].
pub fn host_mirror() -> Result<Mirror> {
    let text = fs::read_to_string(SOURCES_FILE).with_context(|| {
        format!(
            "could not read {SOURCES_FILE}, which names the Debian mirror to fetch kernels from; \
             on a non-Debian host pass --kernel PATH (a vmlinuz or a linux-image .deb)"
        )
    })?;
    parse_sources(&text).with_context(|| format!("no usable Debian mirror in {SOURCES_FILE}"))
}

/// Parses a deb822 sources file into the archive and security mirror URIs.
pub fn parse_sources(text: &str) -> Result<Mirror> {
    let mut archive = None;
    let mut security = None;
    let mut signed_by = None;
    for stanza in stanzas(text) {
        let field = |name: &str| {
            stanza
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        if !field("Types").is_some_and(|t| t.split_whitespace().any(|t| t == "deb")) {
            continue;
        }
        if field("Enabled").is_some_and(|e| e.trim().eq_ignore_ascii_case("no")) {
            continue;
        }
        let Some(uri) = field("URIs").and_then(|u| u.split_whitespace().next()) else {
            continue;
        };
        let suites: Vec<&str> = field("Suites").unwrap_or("").split_whitespace().collect();
        // A keyring given inline (a multi-line PGP block) cannot go into a one-line
        // sources.list; apt's default keyrings then apply.
        let keyring = field("Signed-By").filter(|k| !k.contains('\n') && !k.trim().is_empty());
        if suites.iter().any(|s| s.ends_with("-security")) {
            security.get_or_insert_with(|| uri.to_owned());
        } else if suites.iter().any(|s| !s.contains('-')) && archive.is_none() {
            archive = Some(uri.to_owned());
            signed_by = keyring.map(|k| k.trim().to_owned());
        }
    }
    let Some(archive) = archive else {
        bail!("no `Types: deb` entry for a plain suite (like `bookworm`) was found");
    };
    Ok(Mirror {
        archive,
        security,
        signed_by,
    })
}

/// Splits deb822 text into stanzas of (field, value); continuation lines join with '\n'.
fn stanzas(text: &str) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut cur: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else if line.starts_with('#') {
            continue;
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = cur.last_mut() {
                v.push('\n');
                v.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            cur.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A one-line-format sources.list for one suite of the mirror.
pub fn sources_list(mirror: &Mirror, suite: &str) -> String {
    let opts = match &mirror.signed_by {
        Some(k) => format!("[signed-by={k}] "),
        None => String::new(),
    };
    let mut text = format!("deb {opts}{} {suite} main\n", mirror.archive);
    // sid has no security suite; stable lines often get their newest kernel there first.
    if suite != "sid" && suite != "unstable" {
        if let Some(sec) = &mirror.security {
            text.push_str(&format!("deb {opts}{sec} {suite}-security main\n"));
        }
    }
    text
}

/// One downloadable version of a package, and the archive that offers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Package name.
    pub package: String,
    /// Debian version.
    pub version: String,
    /// The archive and suite serving it, as apt-cache madison names them.
    pub origin: String,
}

/// Parses `apt-cache madison` output (`package | version | origin`).
pub fn parse_madison(text: &str) -> Vec<Candidate> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split('|').map(str::trim);
            let (package, version, origin) = (f.next()?, f.next()?, f.next()?);
            (!package.is_empty() && !version.is_empty()).then(|| Candidate {
                package: package.to_owned(),
                version: version.to_owned(),
                origin: origin.trim_end_matches(" Packages").to_owned(),
            })
        })
        .collect()
}

/// apt pointed at a private state dir for one suite.
pub struct Apt {
    dir: PathBuf,
}

impl Apt {
    /// Prepares `dir` (lists, cache, sources.list) for `suite` of `mirror`.
    pub fn new(dir: &Path, mirror: &Mirror, suite: &str) -> Result<Self> {
        for sub in ["lists/partial", "cache/archives/partial"] {
            fs::create_dir_all(dir.join(sub))
                .with_context(|| format!("could not create {}", dir.join(sub).display()))?;
        }
        let list = dir.join("sources.list");
        fs::write(&list, sources_list(mirror, suite))
            .with_context(|| format!("could not write {}", list.display()))?;
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    /// `program` (apt-get or apt-cache) with the options that select the private state.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        let opt = |k: &str, v: &Path| format!("{k}={}", v.display());
        for o in [
            opt("Dir::Etc::SourceList", &self.dir.join("sources.list")),
            opt("Dir::Etc::SourceParts", Path::new("/dev/null")),
            opt("Dir::State::Lists", &self.dir.join("lists")),
            opt("Dir::Cache", &self.dir.join("cache")),
            // The private dirs may not be readable by the _apt sandbox user.
            "APT::Sandbox::User=root".to_owned(),
        ] {
            cmd.arg("-o").arg(o);
        }
        cmd
    }

    /// Fetches the package lists of the suite.
    pub fn update(&self) -> Result<()> {
        run::capture(self.command("apt-get").args(["-q", "update"]))
            .map(drop)
            .context(
                "apt-get update for the kernel's Debian suite failed (network or mirror problem?)",
            )
    }

    /// Package names matching an extended regex.
    pub fn search_names(&self, regex: &str) -> Result<Vec<String>> {
        let out = run::capture(
            self.command("apt-cache")
                .args(["search", "--names-only", regex]),
        )?;
        Ok(out
            .lines()
            .filter_map(|l| l.split(" - ").next())
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .collect())
    }

    /// Every version of these packages the lists hold, with the archive offering it.
    pub fn candidates(&self, packages: &[String]) -> Result<Vec<Candidate>> {
        if packages.is_empty() {
            return Ok(Vec::new());
        }
        let out = run::capture(self.command("apt-cache").arg("madison").args(packages))?;
        Ok(parse_madison(&out))
    }

    /// Downloads `package=version` into `dest` and returns the .deb's path.
    pub fn download(&self, package: &str, version: &str, dest: &Path) -> Result<PathBuf> {
        fs::create_dir_all(dest).with_context(|| format!("could not create {}", dest.display()))?;
        run::capture(
            self.command("apt-get")
                .args(["-q", "download", &format!("{package}={version}")])
                .current_dir(dest),
        )?;
        let found = fs::read_dir(dest)
            .with_context(|| format!("could not list {}", dest.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.extension().is_some_and(|e| e == "deb")
                    && p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{package}_")))
            });
        found.with_context(|| {
            format!(
                "apt-get download {package}={version} left no .deb in {}",
                dest.display()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
";

    #[test]
    fn parses_host_sources() {
        let m = parse_sources(HOST).unwrap();
        assert_eq!(m.archive, "http://mirror.example/debian");
        assert_eq!(
            m.security.as_deref(),
            Some("http://mirror.example/debian-security")
        );
        assert_eq!(
            m.signed_by.as_deref(),
            Some("/usr/share/keyrings/debian-archive-keyring.gpg")
        );
    }

    #[test]
    fn skips_deb_src_and_disabled_and_inline_keys() {
        let text = "Types: deb-src\nURIs: http://src.example/debian\nSuites: sid\n\n\
                    Types: deb\nURIs: http://off.example/debian\nSuites: sid\nEnabled: no\n\n\
                    Types: deb\nURIs: http://on.example/debian http://second.example/debian\n\
                    Suites: trixie\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n";
        let m = parse_sources(text).unwrap();
        assert_eq!(m.archive, "http://on.example/debian");
        assert_eq!(m.security, None);
        assert_eq!(m.signed_by, None);
    }

    #[test]
    fn rejects_sources_without_archive() {
        assert!(parse_sources("").is_err());
        assert!(parse_sources("Types: deb\nURIs: http://x/\nSuites: bookworm-security\n").is_err());
    }

    #[test]
    fn builds_sources_list() {
        let m = parse_sources(HOST).unwrap();
        let k = "[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]";
        assert_eq!(
            sources_list(&m, "bullseye"),
            format!(
                "deb {k} http://mirror.example/debian bullseye main\n\
                 deb {k} http://mirror.example/debian-security bullseye-security main\n"
            )
        );
        assert_eq!(
            sources_list(&m, "sid"),
            format!("deb {k} http://mirror.example/debian sid main\n")
        );
    }

    #[test]
    fn parses_apt_cache_madison() {
        let text = "linux-image-5.10.0-32-cloud-amd64-unsigned | 5.10.223-1 | http://m.example/debian bullseye/main amd64 Packages\n\
                    linux-image-6.1.0-56-cloud-amd64-unsigned |  6.1.192-2 | http://m.example/debian-security bookworm-security/main amd64 Packages\n\
                    garbage line\n";
        let c = parse_madison(text);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].package, "linux-image-5.10.0-32-cloud-amd64-unsigned");
        assert_eq!(c[0].version, "5.10.223-1");
        assert_eq!(c[0].origin, "http://m.example/debian bullseye/main amd64");
        assert_eq!(c[1].version, "6.1.192-2");
    }
}
