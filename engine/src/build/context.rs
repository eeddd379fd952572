//! The build context: `.dockerignore` patterns (docker's syntax: `*` and `?`
//! within a path component, `**` across any number of them, `!` exceptions,
//! the last matching line wins, a pattern that matches a directory excludes
//! what is under it), and glob matching of COPY sources.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct Ignore {
    /// (pattern components, exception)
    patterns: Vec<(Vec<String>, bool)>,
}

/// Clean a relative path: `.` and empty components dropped, `..` popped, a
/// leading `/` ignored (docker cleans patterns with filepath.Clean).
pub fn clean(p: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c.to_string()),
        }
    }
    out
}

impl Ignore {
    pub fn parse(text: &str) -> Ignore {
        let mut patterns = Vec::new();
        for l in text.lines() {
            let l = l.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let (exc, p) = match l.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, l),
            };
            let comps = clean(p);
            if comps.is_empty() {
                continue;
            }
            patterns.push((comps, exc));
        }
        Ignore { patterns }
    }

    pub fn load(context: &Path) -> std::io::Result<Ignore> {
        match std::fs::read_to_string(context.join(".dockerignore")) {
            Ok(t) => Ok(Ignore::parse(&t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Ignore::default()),
            Err(e) => Err(e),
        }
    }

    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|(_, e)| *e)
    }

    /// Whether the context path `rel` (components) is excluded.
    pub fn excluded(&self, rel: &[String]) -> bool {
        let mut ex = false;
        for (p, exc) in &self.patterns {
            // The path itself or one of its parents.
            if (1..=rel.len()).any(|n| match_components(p, &rel[..n])) {
                ex = !exc;
            }
        }
        ex
    }
}

/// Whether the pattern components match the path components (`**` matches
/// zero or more of them).
pub fn match_components(p: &[String], path: &[String]) -> bool {
    match p.first() {
        None => path.is_empty(),
        Some(s) if s == "**" => {
            (0..=path.len()).any(|skip| match_components(&p[1..], &path[skip..]))
        }
        Some(s) => {
            !path.is_empty()
                && wildcard(s.as_bytes(), path[0].as_bytes())
                && match_components(&p[1..], &path[1..])
        }
    }
}

/// `*`, `?`, `[set]`/`[^set]`/`[a-z]` and `\` escapes within one component.
pub fn wildcard(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') => (0..=s.len()).any(|i| wildcard(&p[1..], &s[i..])),
        Some(b'?') => !s.is_empty() && wildcard(&p[1..], &s[1..]),
        Some(b'[') => {
            let Some(c) = s.first() else { return false };
            let mut i = 1;
            let neg = matches!(p.get(1), Some(b'^' | b'!'));
            if neg {
                i += 1;
            }
            let mut hit = false;
            let mut first = true;
            while i < p.len() && (p[i] != b']' || first) {
                first = false;
                let mut lo = p[i];
                if lo == b'\\' && i + 1 < p.len() {
                    i += 1;
                    lo = p[i];
                }
                let mut hi = lo;
                if p.get(i + 1) == Some(&b'-') && p.get(i + 2).is_some_and(|&b| b != b']') {
                    hi = p[i + 2];
                    i += 2;
                }
                if (lo..=hi).contains(c) {
                    hit = true;
                }
                i += 1;
            }
            if i >= p.len() {
                // No closing bracket: a literal `[`.
                return s.first() == Some(&b'[') && wildcard(&p[1..], &s[1..]);
            }
            hit != neg && wildcard(&p[i + 1..], &s[1..])
        }
        Some(b'\\') if p.len() > 1 => s.first() == Some(&p[1]) && wildcard(&p[2..], &s[1..]),
        Some(&c) => s.first() == Some(&c) && wildcard(&p[1..], &s[1..]),
    }
}

pub fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The context paths (relative components) a COPY source names: the path
/// itself, or every match of a glob (per component, as Go's filepath.Match),
/// sorted. Excluded paths are not matched.
pub fn find_sources(
    context: &Path,
    src: &str,
    ignore: &Ignore,
) -> std::io::Result<Vec<Vec<String>>> {
    let comps = clean(src);
    if !has_glob(src) {
        return Ok(if comps.is_empty() || !ignore.excluded(&comps) {
            vec![comps]
        } else {
            vec![]
        });
    }
    let mut found = vec![Vec::<String>::new()];
    for c in &comps {
        let mut next = Vec::new();
        for base in &found {
            let dir = join(context, base);
            if !has_glob(c) {
                let mut b = base.clone();
                b.push(c.clone());
                if std::fs::symlink_metadata(join(context, &b)).is_ok() {
                    next.push(b);
                }
                continue;
            }
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<String> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| wildcard(c.as_bytes(), n.as_bytes()))
                .collect();
            names.sort();
            for n in names {
                let mut b = base.clone();
                b.push(n);
                next.push(b);
            }
        }
        found = next;
    }
    Ok(found.into_iter().filter(|p| !ignore.excluded(p)).collect())
}

pub fn join(root: &Path, comps: &[String]) -> PathBuf {
    let mut p = root.to_path_buf();
    for c in comps {
        p.push(c);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        clean(s)
    }

    #[test]
    fn dockerignore_patterns() {
        let i = Ignore::parse("# c\n*.log\n!keep.log\nbuild/\n**/*.tmp\n/secret\ndocs/**/draft*\n");
        assert!(i.excluded(&v("a.log")));
        assert!(!i.excluded(&v("keep.log")));
        assert!(!i.excluded(&v("sub/a.log")), "* does not cross /");
        assert!(i.excluded(&v("build")));
        assert!(i.excluded(&v("build/x/y")), "under an excluded dir");
        assert!(i.excluded(&v("x.tmp")));
        assert!(i.excluded(&v("a/b/c.tmp")));
        assert!(i.excluded(&v("secret")));
        assert!(i.excluded(&v("docs/draft1")));
        assert!(i.excluded(&v("docs/a/b/draft2")));
        assert!(!i.excluded(&v("docs/a/final")));
        assert!(!i.excluded(&v("src/main.rs")));
        let last_wins = Ignore::parse("!a\na\n");
        assert!(last_wins.excluded(&v("a")));
    }

    #[test]
    fn wildcards() {
        assert!(wildcard(b"a*c", b"abbc"));
        assert!(wildcard(b"a?c", b"abc"));
        assert!(!wildcard(b"a?c", b"ac"));
        assert!(wildcard(b"[a-c]x", b"bx"));
        assert!(!wildcard(b"[^a-c]x", b"bx"));
        assert!(wildcard(b"\\*", b"*"));
        assert!(!wildcard(b"\\*", b"a"));
    }
}
