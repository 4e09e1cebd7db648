//! Just enough of PromQL to list the metrics an expression selects and the
//! labels it matches them on (no parser crate needed for that).

/// A metric named in a PromQL expression, with the labels it is matched on.
#[derive(Debug)]
pub struct Selector {
    pub metric: String,
    pub labels: Vec<String>,
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// The index just past the bracket that closes the one at `open`, skipping
/// quoted strings.
fn skip_group(chars: &[char], open: usize) -> usize {
    let (left, right) = (chars[open], if chars[open] == '(' { ')' } else { ']' });
    let mut depth = 0;
    let mut i = open;
    while i < chars.len() {
        match chars[i] {
            '"' | '\'' => i = skip_string(chars, i) - 1,
            c if c == left => depth += 1,
            c if c == right => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    panic!("unclosed {left} in {}", chars.iter().collect::<String>())
}

fn skip_string(chars: &[char], open: usize) -> usize {
    let mut i = open + 1;
    while chars[i] != chars[open] {
        i += if chars[i] == '\\' { 2 } else { 1 };
    }
    i + 1
}

fn next_non_space(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    i
}

/// The metric selectors of a PromQL expression. Functions, aggregations,
/// keywords, grouping label lists, strings, ranges and numbers are skipped.
pub fn selectors(expr: &str) -> Vec<Selector> {
    const KEYWORDS: [&str; 5] = ["and", "or", "unless", "bool", "offset"];
    const GROUPING: [&str; 6] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' {
            i = skip_string(&chars, i);
        } else if c == '[' {
            i = skip_group(&chars, i);
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (is_ident_char(chars[i]) || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && is_ident_char(chars[i]) {
                i += 1;
            }
            let ident: String = chars[start..i].iter().collect();
            let next = next_non_space(&chars, i);
            let next_ident: String = chars[next..]
                .iter()
                .take_while(|c| is_ident_char(**c))
                .collect();
            if GROUPING.contains(&ident.as_str()) {
                if chars.get(next) == Some(&'(') {
                    i = skip_group(&chars, next);
                }
            } else if KEYWORDS.contains(&ident.as_str())
                || chars.get(next) == Some(&'(')
                || GROUPING[..2].contains(&next_ident.as_str())
            {
                // A keyword, a function, or an aggregation before by/without.
            } else {
                let mut labels = Vec::new();
                if chars.get(next) == Some(&'{') {
                    let close = (next..chars.len())
                        .scan(false, |quoted, j| {
                            if chars[j] == '"' {
                                *quoted = !*quoted;
                            }
                            Some((j, *quoted))
                        })
                        .find(|(j, quoted)| !quoted && chars[*j] == '}')
                        .expect("closing }")
                        .0;
                    // `label op "value", …`: each name runs up to its operator.
                    let mut quoted = false;
                    let mut name = Some(String::new());
                    for &c in &chars[next + 1..close] {
                        match c {
                            '"' => quoted = !quoted,
                            ',' if !quoted => name = Some(String::new()),
                            '=' | '!' if !quoted => {
                                if let Some(n) = name.take() {
                                    labels.push(n.trim().to_owned());
                                }
                            }
                            c if !quoted => {
                                if let Some(n) = name.as_mut() {
                                    n.push(c);
                                }
                            }
                            _ => {}
                        }
                    }
                    i = close + 1;
                }
                found.push(Selector {
                    metric: ident,
                    labels,
                });
            }
        } else {
            i += 1;
        }
    }
    found
}

#[test]
fn selectors_are_found_in_promql() {
    let found = selectors(
        r#"histogram_quantile(0.99, sum without (instance, pod) (rate(a_bucket{le=~"3|3.0", job="x,y"}[5m]))) > 2.5
           and max by (namespace) (b offset 5m) or absent(up{job=~".*"} == 1) unless time() - c"#,
    );
    let names: Vec<(&str, Vec<&str>)> = found
        .iter()
        .map(|s| {
            (
                s.metric.as_str(),
                s.labels.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("a_bucket", vec!["le", "job"]),
            ("b", vec![]),
            ("up", vec!["job"]),
            ("c", vec![]),
        ]
    );
}
