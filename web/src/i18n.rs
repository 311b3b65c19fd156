//! The portal's words in English and French, chosen by the browser's `Accept-Language`.
//! Catalogues are flat TOML files (`web/locales/*.toml`) compiled in; a key missing from
//! French falls back to English (a test keeps them complete).

use std::collections::HashMap;
use std::sync::LazyLock;

/// The locales the portal speaks, the first being the fallback.
pub const LOCALES: [&str; 2] = ["en", "fr"];

static CATALOGUES: LazyLock<HashMap<&'static str, HashMap<String, String>>> = LazyLock::new(|| {
    let parse = |text: &str| -> HashMap<String, String> {
        toml::from_str(text).unwrap_or_else(|e| panic!("a locale file does not parse: {e}"))
    };
    HashMap::from([
        ("en", parse(include_str!("../locales/en.toml"))),
        ("fr", parse(include_str!("../locales/fr.toml"))),
    ])
});

/// The locale for a request: the browser's first preference the portal speaks.
pub fn negotiate(accept_language: Option<&str>) -> &'static str {
    // By preference (quality), a tag's primary language: fr-CA is French.
    accept_language
        .map(accept_language::parse)
        .unwrap_or_default()
        .iter()
        .find_map(|tag| {
            let primary = tag
                .split('-')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            LOCALES.iter().find(|l| **l == primary).copied()
        })
        .unwrap_or(LOCALES[0])
}

/// The text of `key` in `locale`, with each `{name}` replaced by its argument.
pub fn text(locale: &str, key: &str, args: &[(&str, String)]) -> String {
    let found = CATALOGUES
        .get(locale)
        .and_then(|c| c.get(key))
        .or_else(|| CATALOGUES[LOCALES[0]].get(key));
    let mut text = found.cloned().unwrap_or_else(|| key.to_string());
    for (name, value) in args {
        text = text.replace(&format!("{{{name}}}"), value);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_english_text_has_a_french_one_and_back() {
        let en = &CATALOGUES["en"];
        let fr = &CATALOGUES["fr"];
        let missing: Vec<_> = en.keys().filter(|k| !fr.contains_key(*k)).collect();
        assert!(missing.is_empty(), "missing in fr.toml: {missing:?}");
        let extra: Vec<_> = fr.keys().filter(|k| !en.contains_key(*k)).collect();
        assert!(extra.is_empty(), "only in fr.toml: {extra:?}");
    }

    #[test]
    fn the_browsers_first_spoken_preference_wins() {
        assert_eq!(negotiate(Some("fr-CA,fr;q=0.9,en;q=0.8")), "fr");
        assert_eq!(negotiate(Some("de-DE,de;q=0.9,en;q=0.5")), "en");
        assert_eq!(negotiate(Some("de")), "en");
        assert_eq!(negotiate(None), "en");
        assert_eq!(
            text("fr", "learning.title", &[]),
            CATALOGUES["fr"]["learning.title"]
        );
        assert_eq!(text("en", "no.such.key", &[]), "no.such.key");
    }
}
