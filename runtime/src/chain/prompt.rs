//! `PromptTemplate`: text with `{variable}` placeholders, parsed once and filled in many times.
//! `{{` and `}}` stand for literal braces, as in Python's `str.format` and LangChain's f-string
//! templates.

use super::error::{ChainError, shorten};
use std::fmt;
use std::str::FromStr;

/// A prompt with `{variable}` placeholders.
///
/// Variable names match `[A-Za-z_][A-Za-z0-9_]*`; a variable may appear several times. `{{` and
/// `}}` are literal braces. The text is parsed once, by [`PromptTemplate::new`], so a malformed
/// template fails at construction rather than at each call.
///
/// ```
/// use pluto::chain::PromptTemplate;
///
/// let template = PromptTemplate::new("Tell me a {adjective} joke about {topic}. {{JSON}} please.")?;
/// assert_eq!(template.input_variables(), ["adjective", "topic"]);
/// assert_eq!(
///     template.format([("adjective", "funny"), ("topic", "ducks")])?,
///     "Tell me a funny joke about ducks. {JSON} please."
/// );
/// # Ok::<(), pluto::chain::ChainError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptTemplate {
    text: String,
    segments: Vec<Segment>,
    variables: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Text copied as is (escapes already resolved).
    Literal(String),
    /// The value of `variables[index]`.
    Variable(usize),
}

impl PromptTemplate {
    /// Parses `text`. Fails on an unclosed `{`, a stray `}` or an invalid variable name, saying
    /// where.
    pub fn new(text: impl Into<String>) -> Result<Self, ChainError> {
        let text = text.into();
        let mut segments = Vec::new();
        let mut variables: Vec<String> = Vec::new();
        let mut literal = String::new();
        let mut rest = text.char_indices().peekable();
        while let Some((position, c)) = rest.next() {
            match c {
                '{' if rest.next_if(|&(_, next)| next == '{').is_some() => literal.push('{'),
                '}' if rest.next_if(|&(_, next)| next == '}').is_some() => literal.push('}'),
                '}' => return Err(ChainError::StrayBrace { position }),
                '{' => {
                    let start = position + 1;
                    let Some(length) = text[start..].find('}') else {
                        return Err(ChainError::UnclosedBrace { position });
                    };
                    let name = &text[start..start + length];
                    if !is_identifier(name) {
                        // A `{` inside the name means the first brace was never closed.
                        return Err(match name.find('{') {
                            Some(_) => ChainError::UnclosedBrace { position },
                            None => ChainError::InvalidVariable {
                                name: shorten(name, 40),
                                position,
                            },
                        });
                    }
                    // Skip the name and the closing brace (all ASCII: one char per byte).
                    for _ in 0..=length {
                        rest.next();
                    }
                    if !literal.is_empty() {
                        segments.push(Segment::Literal(std::mem::take(&mut literal)));
                    }
                    let index = match variables.iter().position(|known| known == name) {
                        Some(index) => index,
                        None => {
                            variables.push(name.to_owned());
                            variables.len() - 1
                        }
                    };
                    segments.push(Segment::Variable(index));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        Ok(Self {
            text,
            segments,
            variables,
        })
    }

    /// The template's text, as given.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The distinct variables, in order of first appearance.
    pub fn input_variables(&self) -> &[String] {
        &self.variables
    }

    /// Fills in the variables.
    ///
    /// `values` is anything that iterates over name-value pairs: an array or `Vec` of
    /// `(&str, &str)` or `(String, String)`, or a `&HashMap`/`&BTreeMap` of strings. Every variable
    /// must be given exactly one value, and every name given must be a variable of the template:
    /// a missing or unknown name is an error naming it, which catches typos on both sides.
    pub fn format<I, K, V>(&self, values: I) -> Result<String, ChainError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let pairs: Vec<(K, V)> = values.into_iter().collect();
        let mut slots: Vec<Option<&str>> = vec![None; self.variables.len()];
        let mut unknown = Vec::new();
        for (name, value) in &pairs {
            let name = name.as_ref();
            match self.variables.iter().position(|variable| variable == name) {
                Some(index) if slots[index].is_some() => {
                    return Err(ChainError::DuplicateVariable {
                        name: name.to_owned(),
                    });
                }
                Some(index) => slots[index] = Some(value.as_ref()),
                None => unknown.push(name.to_owned()),
            }
        }
        let missing: Vec<String> = self
            .variables
            .iter()
            .zip(&slots)
            .filter(|(_, slot)| slot.is_none())
            .map(|(variable, _)| variable.clone())
            .collect();
        if !missing.is_empty() || !unknown.is_empty() {
            return Err(ChainError::VariableMismatch { missing, unknown });
        }

        let mut output = String::with_capacity(
            self.text.len()
                + slots
                    .iter()
                    .flatten()
                    .map(|value| value.len())
                    .sum::<usize>(),
        );
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => output.push_str(text),
                Segment::Variable(index) => output.push_str(slots[*index].unwrap_or_default()),
            }
        }
        Ok(output)
    }
}

impl FromStr for PromptTemplate {
    type Err = ChainError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::new(text)
    }
}

impl fmt::Display for PromptTemplate {
    /// Writes the template's text, as given.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashMap};

    #[test]
    fn parses_variables_in_order_of_first_appearance() {
        let template = PromptTemplate::new("{b} and {a}, then {b} again; {_x1}").unwrap();
        assert_eq!(template.input_variables(), ["b", "a", "_x1"]);
        assert_eq!(
            template
                .format([("a", "A"), ("b", "B"), ("_x1", "X")])
                .unwrap(),
            "B and A, then B again; X"
        );
    }

    #[test]
    fn doubled_braces_are_literal() {
        let template = PromptTemplate::new("{{\"name\": \"{name}\"}} {{{x}}} }}{{").unwrap();
        assert_eq!(template.input_variables(), ["name", "x"]);
        assert_eq!(
            template.format([("name", "Ada"), ("x", "1")]).unwrap(),
            "{\"name\": \"Ada\"} {1} }{"
        );
        // Values are inserted as is: braces in them are not placeholders.
        assert_eq!(
            template.format([("name", "{x}"), ("x", "}}")]).unwrap(),
            "{\"name\": \"{x}\"} {}}} }{"
        );
    }

    #[test]
    fn template_without_variables() {
        let template = PromptTemplate::new("Hello, wörld!").unwrap();
        assert!(template.input_variables().is_empty());
        assert_eq!(
            template.format(std::iter::empty::<(&str, &str)>()).unwrap(),
            "Hello, wörld!"
        );
        assert_eq!(
            PromptTemplate::new("")
                .unwrap()
                .format(Vec::<(String, String)>::new())
                .unwrap(),
            ""
        );
    }

    #[test]
    fn unclosed_brace_is_an_error_with_its_position() {
        assert!(matches!(
            PromptTemplate::new("abc {name"),
            Err(ChainError::UnclosedBrace { position: 4 })
        ));
        assert!(matches!(
            PromptTemplate::new("é{"),
            Err(ChainError::UnclosedBrace { position: 2 })
        ));
        assert!(matches!(
            PromptTemplate::new("{a {b}"),
            Err(ChainError::UnclosedBrace { position: 0 })
        ));
        let message = PromptTemplate::new("x{").unwrap_err().to_string();
        assert_eq!(
            message,
            "prompt template: unclosed `{` at byte 1 (write `{{` for a literal brace)"
        );
    }

    #[test]
    fn stray_closing_brace_is_an_error() {
        assert!(matches!(
            PromptTemplate::new("a } b"),
            Err(ChainError::StrayBrace { position: 2 })
        ));
        assert!(matches!(
            PromptTemplate::new("{a}}"),
            Err(ChainError::StrayBrace { position: 3 })
        ));
        assert!(matches!(
            PromptTemplate::new("}}}"),
            Err(ChainError::StrayBrace { position: 2 })
        ));
    }

    #[test]
    fn invalid_variable_names_are_errors() {
        for (text, name) in [
            ("{}", ""),
            ("x {1abc}", "1abc"),
            ("{a b}", "a b"),
            ("{a-b}", "a-b"),
            ("{é}", "é"),
        ] {
            match PromptTemplate::new(text) {
                Err(ChainError::InvalidVariable { name: found, .. }) => {
                    assert_eq!(found, name, "{text}")
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        let message = PromptTemplate::new("ok {bad name}")
            .unwrap_err()
            .to_string();
        assert!(message.contains("`bad name` at byte 3"), "{message}");
    }

    #[test]
    fn missing_and_unknown_variables_are_named() {
        let template = PromptTemplate::new("{greeting}, {name}! {greeting}").unwrap();
        match template.format([("greeting", "Hi")]) {
            Err(ChainError::VariableMismatch { missing, unknown }) => {
                assert_eq!(missing, ["name"]);
                assert!(unknown.is_empty());
            }
            other => panic!("{other:?}"),
        }
        match template.format([
            ("greeting", "Hi"),
            ("name", "Bo"),
            ("nmae", "Bo"),
            ("extra", ""),
        ]) {
            Err(ChainError::VariableMismatch { missing, unknown }) => {
                assert!(missing.is_empty());
                assert_eq!(unknown, ["nmae", "extra"]);
            }
            other => panic!("{other:?}"),
        }
        let message = template
            .format([("greeting", "Hi"), ("nmae", "Bo")])
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "prompt template: no value for `name`; unknown variable(s) `nmae`"
        );
    }

    #[test]
    fn a_variable_given_twice_is_an_error() {
        let template = PromptTemplate::new("{a}").unwrap();
        assert!(matches!(
            template.format([("a", "1"), ("a", "2")]),
            Err(ChainError::DuplicateVariable { name }) if name == "a"
        ));
    }

    #[test]
    fn accepts_maps_vectors_and_owned_strings() {
        let template = PromptTemplate::new("{a}-{b}").unwrap();
        let hash: HashMap<&str, String> = [("a", "1".to_owned()), ("b", "2".to_owned())].into();
        assert_eq!(template.format(&hash).unwrap(), "1-2");
        let tree: BTreeMap<String, String> = [
            ("a".to_owned(), "x".to_owned()),
            ("b".to_owned(), "y".to_owned()),
        ]
        .into();
        assert_eq!(template.format(&tree).unwrap(), "x-y");
        assert_eq!(
            template
                .format(vec![("b".to_owned(), "B"), ("a".to_owned(), "A")])
                .unwrap(),
            "A-B"
        );
        let borrowed: &[(&str, &str)] = &[("a", "p"), ("b", "q")];
        assert_eq!(template.format(borrowed.iter().copied()).unwrap(), "p-q");
    }

    #[test]
    fn text_round_trips() {
        let text = "Q: {question} {{literal}}";
        let template: PromptTemplate = text.parse().unwrap();
        assert_eq!(template.text(), text);
        assert_eq!(template.to_string(), text);
    }
}
