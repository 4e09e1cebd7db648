//! Small Block Kit helpers and Slack's size limits.

use slack_morphism::prelude::*;

/// Slack's limits that views and messages must respect.
pub mod limits {
    pub const VIEW_TITLE: usize = 24;
    pub const OPTION_TEXT: usize = 75;
    pub const OPTION_VALUE: usize = 150;
    pub const OPTIONS: usize = 100;
    pub const RADIO_OPTIONS: usize = 10;
    pub const VIEW_BLOCKS: usize = 100;
    pub const MESSAGE_BLOCKS: usize = 50;
    pub const PRIVATE_METADATA: usize = 3000;
    pub const SECTION_TEXT: usize = 3000;
}

/// Cut `s` to at most `max` characters, ending with "…" when cut.
pub fn fit(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

pub fn plain(s: impl Into<String>) -> SlackBlockPlainTextOnly {
    SlackBlockPlainText::new(s.into()).into()
}

pub fn mrkdwn(s: impl Into<String>) -> SlackBlockText {
    SlackBlockMarkDownText::new(fit(&s.into(), limits::SECTION_TEXT)).into()
}

/// Escape text for mrkdwn (`&`, `<`, `>` are control characters).
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub fn option(
    text: &str,
    value: impl Into<String>,
) -> SlackBlockChoiceItem<SlackBlockPlainTextOnly> {
    SlackBlockChoiceItem::new(plain(fit(text, limits::OPTION_TEXT)), value.into())
}

pub fn radio_option(text: &str, value: impl Into<String>) -> SlackBlockChoiceItem<SlackBlockText> {
    SlackBlockChoiceItem::new(
        SlackBlockText::from(plain(fit(text, limits::OPTION_TEXT))),
        value.into(),
    )
}

pub fn section(text: impl Into<String>) -> SlackBlock {
    SlackSectionBlock::new().with_text(mrkdwn(text)).into()
}

pub fn context(text: impl Into<String>) -> SlackBlock {
    SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(
        SlackBlockMarkDownText::new(fit(&text.into(), limits::SECTION_TEXT)),
    )])
    .into()
}

pub fn button(text: &str, action_id: &str, value: &str) -> SlackBlockButtonElement {
    SlackBlockButtonElement::new(plain(text))
        .with_action_id(SlackActionId(action_id.to_owned()))
        .with_value(value.to_owned())
}

/// A date Slack renders in the reader's own time zone.
pub fn slack_date(at: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "<!date^{}^{{date_short_pretty}} at {{time}}|{}>",
        at.timestamp(),
        at.format("%Y-%m-%d %H:%M UTC")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_cuts_on_char_boundaries() {
        assert_eq!(fit("short", 75), "short");
        let long = "é".repeat(80);
        let cut = fit(&long, 75);
        assert_eq!(cut.chars().count(), 75);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn escape_neutralises_mentions_and_links() {
        assert_eq!(
            escape("<!channel> & <http://x|y>"),
            "&lt;!channel&gt; &amp; &lt;http://x|y&gt;"
        );
    }

    #[test]
    fn dates_render_in_the_readers_zone_with_a_fallback() {
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(
            slack_date(at),
            "<!date^1700000000^{date_short_pretty} at {time}|2023-11-14 22:13 UTC>"
        );
    }
}
