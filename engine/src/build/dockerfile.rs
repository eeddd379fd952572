//! A Dockerfile parser: lines joined at `\` continuations, comments dropped,
//! each instruction split into its arguments. Variables are not substituted
//! here (their values depend on the ENV and ARG instructions met while
//! building): the builder calls [`expand`] on the words where docker does
//! (FROM, COPY, ADD, ENV, ARG, WORKDIR, USER, EXPOSE, LABEL). Every word is
//! expanded once here with an empty environment, so that a malformed `${`
//! is a parse error naming its line.

use std::fmt;

/// A parse (or substitution) error: the line and the instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub instruction: String,
    pub msg: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.instruction.is_empty() {
            write!(f, "Dockerfile line {}: {}", self.line, self.msg)
        } else {
            write!(
                f,
                "Dockerfile line {}: {}: {}",
                self.line, self.instruction, self.msg
            )
        }
    }
}

impl std::error::Error for ParseError {}

/// RUN, CMD and ENTRYPOINT: `["exec", "form"]` or a shell command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Exec(Vec<String>),
    Shell(String),
}

impl Command {
    /// The argv: the shell form runs under `/bin/sh -c`, as docker's.
    pub fn argv(&self) -> Vec<String> {
        match self {
            Command::Exec(v) => v.clone(),
            Command::Shell(s) => vec!["/bin/sh".into(), "-c".into(), s.clone()],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Run(Command),
    /// COPY and ADD: raw (unexpanded) source words and destination.
    Copy {
        add: bool,
        srcs: Vec<String>,
        dest: String,
        chown: Option<String>,
        from: Option<String>,
    },
    /// Raw `KEY=value` or `KEY value` pairs (values unexpanded).
    Env(Vec<(String, String)>),
    Arg(Vec<(String, Option<String>)>),
    Workdir(String),
    User(String),
    Cmd(Command),
    Entrypoint(Command),
    Expose(Vec<String>),
    Label(Vec<(String, String)>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    pub line: usize,
    /// The instruction's name as written, upper-cased (for errors).
    pub name: String,
    /// The joined text after the name (for history and the cache key).
    pub text: String,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub line: usize,
    /// The image (raw: global ARGs are substituted when building), `scratch`
    /// or an earlier stage's name.
    pub base: String,
    pub name: Option<String>,
    pub instructions: Vec<Instruction>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dockerfile {
    /// ARGs before the first FROM: usable in FROM lines.
    pub global_args: Vec<(String, Option<String>)>,
    pub stages: Vec<Stage>,
}

impl Dockerfile {
    /// The index of the stage a name or a number names.
    pub fn stage_index(&self, key: &str) -> Option<usize> {
        if let Some(i) = self
            .stages
            .iter()
            .position(|s| s.name.as_deref() == Some(&key.to_ascii_lowercase()))
        {
            return Some(i);
        }
        key.parse::<usize>().ok().filter(|i| *i < self.stages.len())
    }
}

/// Logical lines: (first physical line number, text), continuations joined,
/// comments and blank lines dropped.
fn logical_lines(src: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur: Option<(usize, String)> = None;
    for (i, raw) in src.lines().enumerate() {
        let n = i + 1;
        let trimmed = raw.trim_start();
        // A comment line (also inside a continuation, as docker).
        if trimmed.starts_with('#') {
            continue;
        }
        if cur.is_none() && trimmed.trim().is_empty() {
            continue;
        }
        let t = raw.trim_end();
        let (body, cont) = match t.strip_suffix('\\') {
            Some(b) => (b, true),
            None => (t, false),
        };
        match &mut cur {
            Some((_, s)) => s.push_str(body),
            None => cur = Some((n, body.trim_start().to_string())),
        }
        if !cont {
            out.extend(cur.take());
        }
    }
    if let Some((n, s)) = cur {
        if !s.trim().is_empty() {
            out.push((n, s));
        }
    }
    out
}

/// Split at unquoted blanks, keeping quotes and escapes in the words (for
/// [`expand`]).
pub fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == '\\' && q == '"' {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                } else if c == q {
                    quote = None;
                }
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            None => {
                in_word = true;
                cur.push(c);
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                } else if c == '"' || c == '\'' {
                    quote = Some(c);
                }
            }
        }
    }
    if let Some(q) = quote {
        return Err(format!("unmatched {q} quote"));
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Expand one word as docker does: quotes removed (none expand inside
/// single quotes), `\` escapes, `$VAR`, `${VAR}`, `${VAR:-default}`,
/// `${VAR-default}`, `${VAR:+alt}`, `${VAR+alt}`, `${VAR:?msg}`.
pub fn expand(word: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let cs: Vec<char> = word.chars().collect();
    let mut i = 0;
    let mut out = String::new();
    let mut dq = false;
    while i < cs.len() {
        let c = cs[i];
        match c {
            '\'' if !dq => {
                let end = cs[i + 1..]
                    .iter()
                    .position(|&x| x == '\'')
                    .ok_or("unmatched ' quote")?;
                out.extend(&cs[i + 1..i + 1 + end]);
                i += end + 2;
            }
            '"' => {
                dq = !dq;
                i += 1;
            }
            '\\' => {
                if let Some(&n) = cs.get(i + 1) {
                    // Inside double quotes only \" \\ \$ are escapes.
                    if dq && !matches!(n, '"' | '\\' | '$') {
                        out.push('\\');
                    }
                    out.push(n);
                    i += 2;
                } else {
                    out.push('\\');
                    i += 1;
                }
            }
            '$' => {
                let (v, used) = expand_var(&cs[i + 1..], lookup)?;
                out.push_str(&v);
                i += 1 + used;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    if dq {
        return Err("unmatched \" quote".into());
    }
    Ok(out)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// After a `$`: the value, and how many chars it used.
fn expand_var(
    cs: &[char],
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, usize), String> {
    match cs.first() {
        Some('{') => {
            let close = find_close(cs).ok_or("${ without its closing }")?;
            let inner: String = cs[1..close].iter().collect();
            let name_len = inner.chars().take_while(|&c| is_name_char(c)).count();
            let name = &inner[..name_len];
            if name.is_empty() {
                return Err(format!("bad substitution ${{{inner}}}: no variable name"));
            }
            let rest = &inner[name_len..];
            let val = lookup(name);
            let v = if rest.is_empty() {
                val.unwrap_or_default()
            } else {
                let (op, word) = if let Some(w) = rest.strip_prefix(':') {
                    let mut c = w.chars();
                    let op = c.next().ok_or(format!("bad substitution ${{{inner}}}"))?;
                    (format!(":{op}"), c.as_str().to_string())
                } else {
                    let mut c = rest.chars();
                    let op = c.next().unwrap_or(' ');
                    (op.to_string(), c.as_str().to_string())
                };
                let set = val.is_some();
                let nonempty = val.as_deref().is_some_and(|v| !v.is_empty());
                match op.as_str() {
                    ":-" if nonempty => val.unwrap_or_default(),
                    ":-" => expand(&word, lookup)?,
                    "-" if set => val.unwrap_or_default(),
                    "-" => expand(&word, lookup)?,
                    ":+" if nonempty => expand(&word, lookup)?,
                    "+" if set => expand(&word, lookup)?,
                    ":+" | "+" => String::new(),
                    ":?" if nonempty => val.unwrap_or_default(),
                    "?" if set => val.unwrap_or_default(),
                    ":?" | "?" => {
                        return Err(format!(
                            "{name}: {}",
                            if word.is_empty() {
                                "is not set".to_string()
                            } else {
                                expand(&word, lookup)?
                            }
                        ))
                    }
                    _ => return Err(format!("bad substitution ${{{inner}}}")),
                }
            };
            Ok((v, close + 1))
        }
        Some(&c) if is_name_char(c) && !c.is_ascii_digit() => {
            let n = cs.iter().take_while(|&&c| is_name_char(c)).count();
            let name: String = cs[..n].iter().collect();
            Ok((lookup(&name).unwrap_or_default(), n))
        }
        // A lone `$` stays.
        _ => Ok(("$".into(), 0)),
    }
}

/// The index of the `}` closing `cs[0] == '{'` (nested `${...}` skipped).
fn find_close(cs: &[char]) -> Option<usize> {
    let mut depth = 0;
    let mut i = 0;
    while i < cs.len() {
        match cs[i] {
            '\\' => i += 1,
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// A JSON array of strings, or None (docker then takes the shell form).
fn exec_form(rest: &str) -> Option<Vec<String>> {
    let t = rest.trim();
    if !t.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(t).ok()
}

fn command(rest: &str) -> Command {
    exec_form(rest).map_or_else(|| Command::Shell(rest.trim().to_string()), Command::Exec)
}

/// `--name=value` flags at the start of the words.
fn take_flags(words: &mut Vec<String>, allowed: &[&str]) -> Result<Vec<(String, String)>, String> {
    let mut flags = Vec::new();
    while let Some(w) = words.first() {
        let Some(f) = w.strip_prefix("--") else { break };
        let (name, value) = f
            .split_once('=')
            .ok_or(format!("flag --{f} needs a value (--{f}=VALUE)"))?;
        if !allowed.contains(&name) {
            return Err(format!(
                "flag --{name}: not supported (brig takes {})",
                if allowed.is_empty() {
                    "no flags here".to_string()
                } else {
                    allowed
                        .iter()
                        .map(|a| format!("--{a}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ));
        }
        flags.push((name.to_string(), value.to_string()));
        words.remove(0);
    }
    Ok(flags)
}

/// `KEY=value ...` pairs, or the legacy `KEY value with spaces`.
fn pairs(rest: &str, legacy: bool) -> Result<Vec<(String, String)>, String> {
    let words = split_words(rest)?;
    if words.is_empty() {
        return Err("needs at least one argument".into());
    }
    if !words[0].contains('=') {
        if !legacy {
            return Err(format!("{:?}: expected KEY=VALUE", words[0]));
        }
        let t = rest.trim_start();
        let key_len = t.find(char::is_whitespace).unwrap_or(t.len());
        let value = t[key_len..].trim();
        if value.is_empty() {
            return Err(format!(
                "{}: has no value (KEY=VALUE or KEY VALUE)",
                &t[..key_len]
            ));
        }
        return Ok(vec![(t[..key_len].to_string(), value.to_string())]);
    }
    words
        .into_iter()
        .map(|w| {
            let (k, v) = w
                .split_once('=')
                .ok_or(format!("{w:?}: expected KEY=VALUE"))?;
            if k.is_empty() {
                return Err(format!("{w:?}: an empty name"));
            }
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
}

fn valid_var_name(k: &str) -> bool {
    !k.is_empty() && !k.starts_with(|c: char| c.is_ascii_digit()) && k.chars().all(is_name_char)
}

fn check_expand(word: &str) -> Result<(), String> {
    expand(word, &|_| Some(String::new())).map(|_| ())
}

const UNSUPPORTED: &[&str] = &[
    "VOLUME",
    "HEALTHCHECK",
    "ONBUILD",
    "SHELL",
    "STOPSIGNAL",
    "MAINTAINER",
];

/// Parse a whole Dockerfile.
pub fn parse(src: &str) -> Result<Dockerfile, ParseError> {
    let mut df = Dockerfile::default();
    for (line, text) in logical_lines(src) {
        let name_len = text.find(char::is_whitespace).unwrap_or(text.len());
        let name = text[..name_len].to_ascii_uppercase();
        let rest = text[name_len..].trim().to_string();
        let err = |msg: String| ParseError {
            line,
            instruction: name.clone(),
            msg,
        };
        if rest.is_empty() {
            return Err(err("needs at least one argument".into()));
        }
        if name == "FROM" {
            let mut words = split_words(&rest).map_err(err)?;
            take_flags(&mut words, &[]).map_err(err)?;
            let (base, stage_name) = match words.as_slice() {
                [b] => (b.clone(), None),
                [b, as_, n] if as_.eq_ignore_ascii_case("as") => {
                    let n = n.to_ascii_lowercase();
                    if !n
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
                        || !n.starts_with(|c: char| c.is_ascii_alphabetic())
                    {
                        return Err(err(format!("stage name {n:?}: must start with a letter and have only letters, digits, _ . -")));
                    }
                    if df.stages.iter().any(|s| s.name.as_deref() == Some(&n)) {
                        return Err(err(format!("stage name {n:?}: used twice")));
                    }
                    (b.clone(), Some(n))
                }
                _ => return Err(err("expected FROM IMAGE [AS NAME]".into())),
            };
            check_expand(&base).map_err(err)?;
            df.stages.push(Stage {
                line,
                base,
                name: stage_name,
                instructions: Vec::new(),
            });
            continue;
        }
        let kind = match name.as_str() {
            "RUN" => {
                let mut words = split_words(&rest).unwrap_or_default();
                if words.first().is_some_and(|w| w.starts_with("--")) {
                    take_flags(&mut words, &[]).map_err(err)?;
                }
                Kind::Run(command(&rest))
            }
            "CMD" => Kind::Cmd(command(&rest)),
            "ENTRYPOINT" => Kind::Entrypoint(command(&rest)),
            "COPY" | "ADD" => {
                let add = name == "ADD";
                let (mut words, json) = match exec_form(&rest) {
                    Some(v) => (v, true),
                    None => (split_words(&rest).map_err(err)?, false),
                };
                let flags = if json {
                    Vec::new()
                } else {
                    take_flags(
                        &mut words,
                        if add { &["chown"] } else { &["chown", "from"] },
                    )
                    .map_err(err)?
                };
                if words.len() < 2 {
                    return Err(err("needs a source and a destination".into()));
                }
                if json {
                    // The JSON form's words are taken literally but for variables.
                    words = words
                        .into_iter()
                        .map(|w| w.replace('\\', "\\\\").replace('"', "\\\""))
                        .map(|w| format!("\"{w}\""))
                        .collect();
                }
                let dest = words.pop().unwrap_or_default();
                for w in words.iter().chain([&dest]) {
                    check_expand(w).map_err(err)?;
                }
                if add {
                    for w in &words {
                        let l = w.trim_matches('"').to_ascii_lowercase();
                        if l.starts_with("http://")
                            || l.starts_with("https://")
                            || l.starts_with("git@")
                        {
                            return Err(err(format!(
                                "{w}: brig does not fetch URLs in ADD; download the file into the context and COPY it"
                            )));
                        }
                    }
                }
                let get = |k: &str| flags.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                Kind::Copy {
                    add,
                    srcs: words,
                    dest,
                    chown: get("chown"),
                    from: get("from"),
                }
            }
            "ENV" => {
                let ps = pairs(&rest, true).map_err(err)?;
                for (k, v) in &ps {
                    if !valid_var_name(k) {
                        return Err(err(format!("{k:?}: not a variable name")));
                    }
                    check_expand(v).map_err(err)?;
                }
                Kind::Env(ps)
            }
            "LABEL" => {
                let ps = pairs(&rest, true).map_err(err)?;
                for (k, v) in &ps {
                    check_expand(k).map_err(err)?;
                    check_expand(v).map_err(err)?;
                }
                Kind::Label(ps)
            }
            "ARG" => {
                let words = split_words(&rest).map_err(err)?;
                let mut args = Vec::new();
                for w in words {
                    let (k, v) = match w.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (w.clone(), None),
                    };
                    if !valid_var_name(&k) {
                        return Err(err(format!("{k:?}: not a variable name")));
                    }
                    if let Some(v) = &v {
                        check_expand(v).map_err(err)?;
                    }
                    args.push((k, v));
                }
                Kind::Arg(args)
            }
            "WORKDIR" => {
                check_expand(&rest).map_err(err)?;
                Kind::Workdir(rest.clone())
            }
            "USER" => {
                check_expand(&rest).map_err(err)?;
                Kind::User(rest.clone())
            }
            "EXPOSE" => {
                let words = split_words(&rest).map_err(err)?;
                for w in &words {
                    check_expand(w).map_err(err)?;
                }
                Kind::Expose(words)
            }
            n if UNSUPPORTED.contains(&n) => {
                return Err(err("not supported by brig's builder".into()))
            }
            _ => return Err(err("unknown instruction".into())),
        };
        let ins = Instruction {
            line,
            name: name.clone(),
            text: rest,
            kind,
        };
        match df.stages.last_mut() {
            Some(s) => s.instructions.push(ins),
            None => match ins.kind {
                Kind::Arg(a) => df.global_args.extend(a),
                _ => return Err(err("comes before the first FROM (only ARG may)".into())),
            },
        }
    }
    if df.stages.is_empty() {
        return Err(ParseError {
            line: src.lines().count().max(1),
            instruction: String::new(),
            msg: "no FROM instruction".into(),
        });
    }
    Ok(df)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn stages_continuations_and_comments() {
        let df = parse(
            "# a comment\nARG BASE=busybox\nFROM ${BASE} AS build\nRUN echo a \\\n  # inside\n  && echo b\n\nCOPY --chown=1:2 a b /dst/\nfrom scratch\nCOPY --from=build /x /y\nCMD [\"/bin/sh\", \"-c\", \"x\"]\nENTRYPOINT top -b\n",
        )
        .unwrap();
        assert_eq!(
            df.global_args,
            vec![("BASE".into(), Some("busybox".into()))]
        );
        assert_eq!(df.stages.len(), 2);
        assert_eq!(df.stages[0].base, "${BASE}");
        assert_eq!(df.stages[0].name.as_deref(), Some("build"));
        let s0 = &df.stages[0].instructions;
        assert_eq!(
            s0[0].kind,
            Kind::Run(Command::Shell("echo a   && echo b".into()))
        );
        assert_eq!(s0[0].line, 4);
        assert_eq!(
            s0[1].kind,
            Kind::Copy {
                add: false,
                srcs: vec!["a".into(), "b".into()],
                dest: "/dst/".into(),
                chown: Some("1:2".into()),
                from: None
            }
        );
        let s1 = &df.stages[1].instructions;
        assert!(matches!(&s1[0].kind, Kind::Copy { from: Some(f), .. } if f == "build"));
        assert_eq!(
            s1[1].kind,
            Kind::Cmd(Command::Exec(vec![
                "/bin/sh".into(),
                "-c".into(),
                "x".into()
            ]))
        );
        assert_eq!(
            s1[2].kind,
            Kind::Entrypoint(Command::Shell("top -b".into()))
        );
        assert_eq!(df.stage_index("build"), Some(0));
        assert_eq!(df.stage_index("1"), Some(1));
    }

    #[test]
    fn env_forms() {
        let df = parse("FROM x\nENV A=1 B=\"two words\" C=$A\nENV D with spaces\n").unwrap();
        let i = &df.stages[0].instructions;
        assert_eq!(
            i[0].kind,
            Kind::Env(vec![
                ("A".into(), "1".into()),
                ("B".into(), "\"two words\"".into()),
                ("C".into(), "$A".into())
            ])
        );
        assert_eq!(
            i[1].kind,
            Kind::Env(vec![("D".into(), "with spaces".into())])
        );
    }

    #[test]
    fn substitution() {
        let e = env(&[("A", "x"), ("E", "")]);
        let t = |w: &str| expand(w, &e).unwrap();
        assert_eq!(t("$A/${A}/$B."), "x/x/.");
        assert_eq!(
            t("${B:-def}|${E:-def}|${E-def}|${A:+alt}|${B:+alt}"),
            "def|def||alt|"
        );
        assert_eq!(t("'$A' \"$A\" \\$A"), "$A x $A");
        assert_eq!(t("${B:-${A}y}"), "xy");
        assert_eq!(t("a$"), "a$");
        assert!(expand("${A", &e).is_err());
        assert!(expand("${B:?must be set}", &e)
            .unwrap_err()
            .contains("must be set"));
    }

    #[test]
    fn errors_name_line_and_instruction() {
        let e = parse("FROM x\n\nRUN ok\nFROOM y\n").unwrap_err();
        assert_eq!((e.line, e.instruction.as_str()), (4, "FROOM"));
        assert!(e.to_string().contains("line 4") && e.to_string().contains("unknown"));
        let e = parse("FROM x\nCOPY onlyone\n").unwrap_err();
        assert_eq!((e.line, e.instruction.as_str()), (2, "COPY"));
        let e = parse("FROM x\nWORKDIR ${A\n").unwrap_err();
        assert_eq!((e.line, e.instruction.as_str()), (2, "WORKDIR"));
        let e = parse("FROM x\nADD https://example.com/a /a\n").unwrap_err();
        assert!(e.msg.contains("URL"), "{e}");
        let e = parse("RUN x\nFROM y\n").unwrap_err();
        assert_eq!((e.line, e.instruction.as_str()), (1, "RUN"));
        let e = parse("FROM x\nCOPY --chmod=755 a b\n").unwrap_err();
        assert!(e.msg.contains("--chmod"), "{e}");
        let e = parse("FROM x\nVOLUME /data\n").unwrap_err();
        assert!(e.msg.contains("not supported"), "{e}");
        assert!(parse("# only a comment\n").is_err());
        let e = parse("FROM x\nENV 1A=b\n").unwrap_err();
        assert_eq!(e.instruction, "ENV");
    }

    #[test]
    fn words_keep_quotes_for_expansion() {
        assert_eq!(
            split_words("a \"b c\" 'd e'\\ f").unwrap(),
            vec!["a", "\"b c\"", "'d e'\\ f"]
        );
        assert!(split_words("\"open").is_err());
    }
}
