//! Flask-style URI rules (`/example/<name>/<action>/`): parsing, matching a
//! request path, and telling whether two rules could match the same path.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    /// `<name>` or `<string:name>`: any one non-empty segment.
    Param(String),
}

/// A parsed rule. The trailing slash is not part of it: `/test` and
/// `/test/` are the same rule and match the same paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule {rule:?}: {problem}")]
pub struct RuleError {
    pub rule: String,
    pub problem: String,
}

impl Pattern {
    pub fn parse(rule: &str) -> Result<Pattern, RuleError> {
        let error = |problem: String| RuleError {
            rule: rule.to_owned(),
            problem,
        };
        let rest = rule
            .strip_prefix('/')
            .ok_or_else(|| error("must start with '/'".into()))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let mut segments = Vec::new();
        if rest.is_empty() {
            return Ok(Pattern { segments });
        }
        for text in rest.split('/') {
            if text.is_empty() {
                return Err(error("has an empty segment ('//')".into()));
            }
            let segment = match text.strip_prefix('<').and_then(|t| t.strip_suffix('>')) {
                Some(inner) => {
                    let name = match inner.split_once(':') {
                        None => inner,
                        Some(("string", name)) => name,
                        Some((converter, _)) => {
                            return Err(error(format!(
                                "converter {converter:?} is not supported; use <name>"
                            )));
                        }
                    };
                    if !is_identifier(name) {
                        return Err(error(format!("{name:?} is not a parameter name")));
                    }
                    if segments.contains(&Segment::Param(name.to_owned())) {
                        return Err(error(format!("parameter {name} appears twice")));
                    }
                    Segment::Param(name.to_owned())
                }
                None if text.contains(['<', '>']) => {
                    return Err(error(format!(
                        "segment {text:?} must be a literal or a whole <name>"
                    )));
                }
                None => Segment::Literal(text.to_owned()),
            };
            segments.push(segment);
        }
        Ok(Pattern { segments })
    }

    /// A mount point: literal segments only.
    pub fn parse_mount(mount: &str) -> Result<Pattern, RuleError> {
        let pattern = Pattern::parse(mount)?;
        if pattern
            .segments
            .iter()
            .any(|s| matches!(s, Segment::Param(_)))
        {
            return Err(RuleError {
                rule: mount.to_owned(),
                problem: "a mount point cannot have parameters".into(),
            });
        }
        Ok(pattern)
    }

    /// `self` followed by `rest`: a rule under its mount point.
    pub fn join(&self, rest: &Pattern) -> Pattern {
        Pattern {
            segments: [&self.segments[..], &rest.segments].concat(),
        }
    }

    /// The parameters if `path` (split and decoded) matches.
    pub fn matches(&self, path: &[String]) -> Option<Vec<(String, String)>> {
        if path.len() != self.segments.len() {
            return None;
        }
        let mut params = Vec::new();
        for (segment, text) in self.segments.iter().zip(path) {
            match segment {
                Segment::Literal(literal) if literal == text => {}
                Segment::Literal(_) => return None,
                Segment::Param(_) if text.is_empty() => return None,
                Segment::Param(name) => params.push((name.clone(), text.clone())),
            }
        }
        Some(params)
    }

    /// Whether some path matches both rules.
    pub fn overlaps(&self, other: &Pattern) -> bool {
        self.segments.len() == other.segments.len()
            && self
                .segments
                .iter()
                .zip(&other.segments)
                .all(|pair| match pair {
                    (Segment::Literal(a), Segment::Literal(b)) => a == b,
                    _ => true,
                })
    }

    /// Whether the pattern could match a path `/{first}/…` with at least one
    /// more segment.
    pub fn could_be_under(&self, first: &str) -> bool {
        self.segments.len() >= 2
            && match &self.segments[0] {
                Segment::Literal(literal) => literal == first,
                Segment::Param(_) => true,
            }
    }

    /// Orders rules that match one path: a literal segment beats a
    /// parameter at the first place they differ (as Flask does).
    pub fn specificity(&self) -> impl Ord + use<> {
        self.segments
            .iter()
            .map(|s| matches!(s, Segment::Literal(_)))
            .collect::<Vec<bool>>()
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("/");
        }
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => write!(f, "/{text}")?,
                Segment::Param(name) => write!(f, "/<{name}>")?,
            }
        }
        Ok(())
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A request path as segments, percent-decoded. `None` when a segment does
/// not decode to UTF-8 (no rule can match it).
pub fn split_path(path: &str) -> Option<Vec<String>> {
    let rest = path.strip_prefix('/').unwrap_or(path);
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Some(Vec::new());
    }
    rest.split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .ok()
                .map(|c| c.into_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(rule: &str) -> Pattern {
        Pattern::parse(rule).unwrap()
    }

    fn path(text: &str) -> Vec<String> {
        split_path(text).unwrap()
    }

    #[test]
    fn errbot_rules_match_with_or_without_trailing_slash() {
        let rule = p("/example/<name>/<action>/");
        assert_eq!(rule.to_string(), "/example/<name>/<action>");
        let want = vec![
            ("name".to_owned(), "ann".to_owned()),
            ("action".to_owned(), "jump".to_owned()),
        ];
        assert_eq!(
            rule.matches(&path("/example/ann/jump/")),
            Some(want.clone())
        );
        assert_eq!(rule.matches(&path("/example/ann/jump")), Some(want));
        assert_eq!(rule.matches(&path("/example/ann")), None);
        assert_eq!(rule.matches(&path("/other/ann/jump")), None);
        assert_eq!(p("/test").matches(&path("/test/")), Some(vec![]));
        assert_eq!(p("/").matches(&path("/")), Some(vec![]));
    }

    #[test]
    fn parameters_are_percent_decoded_and_never_span_segments() {
        let rule = p("/u/<name>");
        assert_eq!(
            rule.matches(&path("/u/J%C3%BCrgen%2Fx")),
            Some(vec![("name".into(), "Jürgen/x".into())])
        );
        assert_eq!(rule.matches(&path("/u/a/b")), None);
        assert_eq!(split_path("/u/%FF"), None);
    }

    #[test]
    fn bad_rules_say_why() {
        for (rule, says) in [
            ("test", "start with"),
            ("/a//b", "empty segment"),
            ("/a/<int:id>", "not supported"),
            ("/a/<x>/<x>", "twice"),
            ("/a/x<y>", "whole <name>"),
            ("/a/<1x>", "parameter name"),
        ] {
            let err = Pattern::parse(rule).unwrap_err().to_string();
            assert!(err.contains(says), "{rule}: {err}");
        }
        assert!(Pattern::parse_mount("/hooks/<x>").is_err());
        assert_eq!(p("/a/<string:x>"), p("/a/<x>"));
    }

    #[test]
    fn overlap_means_some_path_matches_both() {
        assert!(p("/a/<x>").overlaps(&p("/a/b/")));
        assert!(p("/<x>/b").overlaps(&p("/a/<y>")));
        assert!(!p("/a/b").overlaps(&p("/a/c")));
        assert!(!p("/a").overlaps(&p("/a/b")));
        assert!(p("/").overlaps(&p("/")));
        let mounted = p("/hooks/x").join(&p("/test"));
        assert_eq!(mounted.to_string(), "/hooks/x/test");
        assert!(!mounted.overlaps(&p("/test")));
    }

    #[test]
    fn paths_under_a_prefix() {
        assert!(p("/hooks/x/test").could_be_under("hooks"));
        assert!(p("/<a>/<b>").could_be_under("hooks"));
        assert!(!p("/hooks").could_be_under("hooks"));
        assert!(!p("/<a>").could_be_under("hooks"));
        assert!(!p("/ci/<x>").could_be_under("hooks"));
    }

    #[test]
    fn literal_beats_parameter() {
        assert!(p("/a/list").specificity() > p("/a/<x>").specificity());
        assert!(p("/a/<x>/c").specificity() > p("/<y>/b/c").specificity());
    }
}
