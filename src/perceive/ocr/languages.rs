//! Which languages are on screen and which reader each needs.
//!
//! PP-OCR's dictionary covers Latin script (English and the other Latin-alphabet languages,
//! accents aside) and Chinese; Korean needs a second reader (Tesseract's `kor`). A language
//! with neither is said once when the pipeline is built, not per line.

/// Latin-script languages: PP-OCR reads their letters (accented ones as far as its
/// dictionary goes).
const LATIN: &[&str] = &[
    "en", "de", "fr", "es", "it", "pt", "nl", "sv", "da", "nb", "nn", "no", "fi", "is", "pl", "cs", "sk", "sl", "hr",
    "bs", "sr", "ro", "hu", "tr", "et", "lv", "lt", "id", "ms", "tl", "sw", "ca", "eu", "gl", "ga", "cy", "af", "sq",
    "mt", "eo", "la", "vi",
];

/// Languages read by Tesseract where PP-OCR cannot: (ISO 639-1, Tesseract's data name, name).
const SECOND: &[(&str, &str, &str)] = &[("ko", "kor", "Korean")];

/// The language of the locale (`LC_ALL`, `LC_MESSAGES`, `LANG`, the first that is set), as an
/// ISO 639-1 code: `ko_KR.UTF-8` → `ko`. `C` and `POSIX` are English.
pub fn of_locale() -> Option<String> {
    let value = ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))?;
    locale_language(&value)
}

pub fn locale_language(value: &str) -> Option<String> {
    let code: String = value.trim().chars().take_while(|c| c.is_ascii_alphabetic()).collect::<String>();
    let code = code.to_ascii_lowercase();
    match code.as_str() {
        "" => None,
        "c" | "posix" => Some("en".into()),
        _ => Some(code),
    }
}

/// What reading the configured languages takes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Tesseract's languages, in the order given to it (the second-read ones, then English
    /// for the Latin words of mixed lines); empty when PP-OCR reads everything.
    pub tesseract: Vec<String>,
    /// The configured languages that need Tesseract.
    pub needs: Vec<String>,
    /// Languages markpilot has no reader for.
    pub unknown: Vec<String>,
}

impl Plan {
    /// "Korean" (the names of the languages that need the second reader).
    pub fn needs_names(&self) -> String {
        let names: Vec<&str> =
            self.needs.iter().filter_map(|c| SECOND.iter().find(|s| s.0 == c).map(|s| s.2)).collect();
        names.join(" and ")
    }
}

pub fn plan(languages: &[String]) -> Plan {
    let mut p = Plan::default();
    for lang in languages {
        let lang = lang.as_str();
        if LATIN.contains(&lang) || lang == "zh" {
            continue;
        }
        match SECOND.iter().find(|s| s.0 == lang) {
            Some(s) if !p.needs.iter().any(|n| n == lang) => {
                p.needs.push(lang.into());
                p.tesseract.push(s.1.into());
            }
            Some(_) => {}
            None if !p.unknown.iter().any(|u| u == lang) => p.unknown.push(lang.into()),
            None => {}
        }
    }
    if !p.tesseract.is_empty() {
        p.tesseract.push("eng".into());
    }
    p
}

/// Hangul syllables, jamo and compatibility jamo.
pub fn is_hangul(c: char) -> bool {
    matches!(c as u32, 0xAC00..=0xD7A3 | 0x1100..=0x11FF | 0x3130..=0x318F | 0xA960..=0xA97F | 0xD7B0..=0xD7FF)
}

/// Hangul syllables (what Korean words are written in; a lone jamo is not a word).
pub fn is_hangul_syllable(c: char) -> bool {
    matches!(c as u32, 0xAC00..=0xD7A3)
}

/// CJK ideographs (what PP-OCR's Chinese dictionary answers for script it does not know).
pub fn is_han(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0xF900..=0xFAFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn langs(l: &[&str]) -> Vec<String> {
        l.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_locale_names_the_language_and_c_is_english() {
        assert_eq!(locale_language("ko_KR.UTF-8").as_deref(), Some("ko"));
        assert_eq!(locale_language("de_DE@euro").as_deref(), Some("de"));
        assert_eq!(locale_language("C.UTF-8").as_deref(), Some("en"));
        assert_eq!(locale_language("POSIX").as_deref(), Some("en"));
        assert_eq!(locale_language(""), None);
        assert_eq!(locale_language(".UTF-8"), None);
    }

    #[test]
    fn korean_needs_tesseract_latin_and_chinese_do_not_and_the_rest_is_said() {
        assert_eq!(plan(&langs(&["en", "de", "zh"])), Plan::default());
        let p = plan(&langs(&["en", "ko", "ko", "ja", "ar", "ja"]));
        assert_eq!(p.tesseract, langs(&["kor", "eng"]));
        assert_eq!(p.needs, langs(&["ko"]));
        assert_eq!(p.unknown, langs(&["ja", "ar"]));
        assert_eq!(p.needs_names(), "Korean");
    }

    #[test]
    fn hangul_and_han_are_told_apart() {
        assert!("저장".chars().all(is_hangul));
        assert!(!"저장".chars().any(is_han));
        assert!("中文".chars().all(is_han));
        assert!(!"Save".chars().any(|c| is_hangul(c) || is_han(c)));
    }
}
