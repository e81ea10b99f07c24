//! Validated value types: each `parse` is the one place a raw input becomes a domain value.
//! Deserialising (from stored events) does not re-validate: history must always load.

mod catalogue;
mod contact;
mod kinds;
mod text;

pub use catalogue::{Money, Sku, ISO_4217};
pub use contact::{check_password, Email, Username};
pub use kinds::ClientKind;
pub use text::{
    ContractBody, ContractTitle, DisplayName, ExternalRef, ItemDescription, ItemName, Label,
    PersonName, Reason, SignerName,
};

fn has_control_chars(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Characters that change how text around them is shown without being seen themselves:
/// the bidirectional controls ("Trojan Source": U+202E makes `exe.pdf` read `fdp.exe`) and
/// the invisible format characters and fillers Unicode's security guidance (UTS #39) warns
/// of. Zero-width (non-)joiners stay allowed: scripts such as Persian and the Indic ones,
/// and emoji sequences, need them. `rules::invisible!` publishes the same set.
const INVISIBLE: &[(char, char)] = &[
    ('\u{00ad}', '\u{00ad}'), // soft hyphen
    ('\u{061c}', '\u{061c}'), // Arabic letter mark
    ('\u{115f}', '\u{1160}'), // Hangul fillers
    ('\u{180e}', '\u{180e}'), // Mongolian vowel separator
    ('\u{200b}', '\u{200b}'), // zero-width space
    ('\u{200e}', '\u{200f}'), // left-to-right and right-to-left marks
    ('\u{202a}', '\u{202e}'), // embeddings and overrides
    ('\u{2060}', '\u{2064}'), // word joiner, invisible operators
    ('\u{2066}', '\u{2069}'), // isolates
    ('\u{3164}', '\u{3164}'), // Hangul filler
    ('\u{feff}', '\u{feff}'), // zero-width no-break space (byte-order mark)
    ('\u{ffa0}', '\u{ffa0}'), // halfwidth Hangul filler
    ('\u{fff9}', '\u{fffb}'), // interlinear annotation
];

fn has_invisible_chars(s: &str) -> bool {
    s.chars()
        .any(|c| INVISIBLE.iter().any(|&(from, to)| (from..=to).contains(&c)))
}

/// The published form of each input rule: a pattern (ECMA-262, Python and Rust `regex`
/// read it alike) and, where the pattern leaves it open, a length bound on the raw input.
/// The HTTP schema publishes these; each `parse` below enforces exactly the same set
/// (`tests` check the two agree), so a request the schema calls valid is accepted and one
/// it calls invalid is refused.
pub mod rules {
    /// Characters `str::trim` removes (Unicode White_Space), as the inside of a class.
    macro_rules! ws {
        () => {
            r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
        };
    }
    /// Control characters (`char::is_control`, Unicode Cc), as the inside of a class.
    macro_rules! cc {
        () => {
            r"\x00-\x1f\x7f-\x9f"
        };
    }
    /// The invisible and text-direction characters (`INVISIBLE`), as the inside of a class.
    macro_rules! invisible {
        () => {
            r"\u00ad\u061c\u115f\u1160\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\u3164\ufeff\uffa0\ufff9-\ufffb"
        };
    }
    /// Control characters but tab, line feed and carriage return.
    macro_rules! cc_but_lines {
        () => {
            r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
        };
    }
    macro_rules! label {
        () => {
            r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
        };
    }

    /// One-line text: no control, invisible or text-direction character, not blank
    /// (surrounding space is trimmed).
    pub const TEXT: &str = concat!(
        "^[^",
        cc!(),
        invisible!(),
        "]*[^",
        cc!(),
        invisible!(),
        ws!(),
        "][^",
        cc!(),
        invisible!(),
        "]*$"
    );
    /// Multi-line text (contract bodies): tabs and line breaks allowed, not blank.
    pub const MULTILINE_TEXT: &str = concat!(
        "^[^",
        cc_but_lines!(),
        invisible!(),
        "]*[^",
        cc_but_lines!(),
        invisible!(),
        ws!(),
        "][^",
        cc_but_lines!(),
        invisible!(),
        "]*$"
    );
    /// An e-mail address: ASCII local part of up to 64 characters, a domain of two or more
    /// DNS labels (international domains in their `xn--` form).
    pub const EMAIL: &str = concat!(
        "^[",
        ws!(),
        "]*[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@",
        label!(),
        r"(?:\.",
        label!(),
        ")+[",
        ws!(),
        "]*$"
    );
    /// The longest e-mail address, counted on the raw input.
    pub const EMAIL_MAX_CHARS: usize = 254;
    /// A portal username: 3–64 of letters, digits and `. _ - @ +`, starting with a letter or digit.
    pub const USERNAME: &str = concat!(
        "^[",
        ws!(),
        "]*[A-Za-z0-9][A-Za-z0-9._@+-]{2,63}[",
        ws!(),
        "]*$"
    );
    /// A product code: 1–64 of letters, digits and `- _ . /`.
    pub const SKU: &str = concat!("^[", ws!(), "]*[A-Za-z0-9._/-]{1,64}[", ws!(), "]*$");
    /// Free text that is only searched or compared (labels, search terms, login names):
    /// anything but a NUL, which PostgreSQL text cannot hold.
    pub const ANY_TEXT: &str = r"^[^\x00]*$";
}

#[cfg(test)]
mod tests {
    use super::catalogue::DECIMALS_OTHER_THAN_TWO;
    use super::*;

    #[test]
    fn emails() {
        for ok in [
            "a@b.co",
            " jo.smith+tax@example.org ",
            "x@sub.example.co.uk",
        ] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "a", "a@", "@b.co", "a@b", "a b@c.de", "a@b..c", "a@-b.com", "a@b.c@d",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usernames() {
        assert!(Username::parse("jo").is_err());
        assert!(Username::parse(&"a".repeat(65)).is_err());
        assert!(Username::parse("-jo").is_err());
        assert!(Username::parse("jo smith").is_err());
        assert_eq!(Username::parse(" Jo.Smith ").unwrap().as_str(), "Jo.Smith");
        assert_eq!(
            Username::generate("Jo.Smith@example.org", 42).as_str(),
            "jo.smith-00042"
        );
        assert_eq!(Username::generate("__", 7).as_str(), "user-00007");
        assert!(Username::parse(Username::generate("Zoë Ålund", 99999).as_str()).is_ok());
    }

    #[test]
    fn passwords() {
        assert!(check_password("short", "jo").is_err());
        assert!(check_password(&"x".repeat(257), "jo").is_err());
        assert!(check_password("aaaaaaaaaaaaaa", "jo").is_err());
        assert!(check_password("my-JoSmith-password", "josmith").is_err());
        assert!(check_password("correct horse battery", "josmith").is_ok());
    }

    #[test]
    fn text_bounds() {
        assert!(DisplayName::parse("   ").is_err());
        // Text-direction overrides and invisible characters are refused everywhere...
        for spoof in [
            "invoice\u{202e}fdp.exe",
            "a\u{2066}b\u{2069}",
            "pay\u{200b}pal",
        ] {
            assert!(DisplayName::parse(spoof).is_err(), "{spoof:?}");
            assert!(ContractBody::parse(spoof).is_err(), "{spoof:?}");
            assert!(Label::parse(spoof).is_err(), "{spoof:?}");
        }
        // ...while ordinary text in any script, with its joiners, stays welcome.
        for fine in [
            "Zoë Müller",
            "محمد علی",
            "山田太郎",
            "می\u{200c}خواهم",
            "👩\u{200d}💻",
        ] {
            assert!(DisplayName::parse(fine).is_ok(), "{fine:?}");
        }
        assert!(DisplayName::parse(&"n".repeat(201)).is_err());
        assert!(DisplayName::parse("a\u{0}b").is_err());
        assert_eq!(
            DisplayName::parse("  Acme Ltd ").unwrap().as_str(),
            "Acme Ltd"
        );
    }

    /// Each published rule accepts exactly what its `parse` accepts, on strings made of
    /// the characters the rules care about (a fixed seed: the same strings every run).
    #[test]
    fn published_rules_equal_the_parsers() {
        type Parse = fn(&str) -> bool;
        let cases: [(&str, &str, Option<usize>, Parse); 6] = [
            ("text", rules::TEXT, Some(DisplayName::MAX_CHARS), |s| {
                DisplayName::parse(s).is_ok()
            }),
            (
                "multiline",
                rules::MULTILINE_TEXT,
                Some(ContractBody::MAX_CHARS),
                |s| ContractBody::parse(s).is_ok(),
            ),
            ("email", rules::EMAIL, Some(rules::EMAIL_MAX_CHARS), |s| {
                Email::parse(s).is_ok()
            }),
            ("username", rules::USERNAME, None, |s| {
                Username::parse(s).is_ok()
            }),
            ("sku", rules::SKU, None, |s| Sku::parse(s).is_ok()),
            ("any", rules::ANY_TEXT, None, |s| !s.contains('\0')),
        ];
        let pool: Vec<char> = "aZ09._-@+/!'`~ \t\n\r\u{0}\u{7}\u{1f}\u{7f}\u{85}\u{9f}\u{a0}\u{ad}\u{200b}\u{200c}\u{200d}\u{200f}\u{202e}\u{2066}\u{2069}\u{2003}\u{3000}\u{feff}éß漢😀x.co"
            .chars()
            .collect();
        let mut seed: u64 = 0x5eed;
        let mut next = move |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % n
        };
        let mut samples: Vec<String> = vec![
            String::new(),
            "jo@example.org".into(),
            " jo.smith+tax@example.org ".into(),
            "a@b-.co".into(),
            "a@xn--bcher-kva.example".into(),
            format!("{}@example.org", "l".repeat(65)),
            format!("{}@example.org", "l".repeat(64)),
            format!("a@{}.org", "d".repeat(64)),
            "a".repeat(201),
            "a".repeat(200),
            format!(" {} ", "a".repeat(200)),
        ];
        for _ in 0..20_000 {
            let len = next(12);
            samples.push((0..len).map(|_| pool[next(pool.len())]).collect());
            // Shapes close to an address, so the e-mail rule is tried on near misses too.
            let word = |next: &mut dyn FnMut(usize) -> usize| -> String {
                (0..1 + next(4)).map(|_| pool[next(pool.len())]).collect()
            };
            let (a, b, c) = (word(&mut next), word(&mut next), word(&mut next));
            samples.push(format!("{a}@{b}.{c}"));
        }
        for (name, pattern, max, parse) in cases {
            let re = regex::Regex::new(pattern).unwrap();
            for s in &samples {
                let published = re.is_match(s) && max.is_none_or(|m| s.chars().count() <= m);
                assert_eq!(published, parse(s), "rule {name} disagrees on {s:?}");
            }
        }
    }

    #[test]
    fn money() {
        assert!(Money::parse(-1, "GBP").is_err());
        assert!(Money::parse(100, "gbp").is_err());
        assert!(Money::parse(100, "GBPX").is_err());
        assert_eq!(Money::parse(1999, "GBP").unwrap().amount_minor, 1999);
    }

    #[test]
    fn money_shows_the_currencys_own_decimals() {
        let shown = |minor, code| Money::parse(minor, code).unwrap().to_string();
        assert_eq!(shown(12000, "GBP"), "GBP 120.00");
        assert_eq!(shown(5, "EUR"), "EUR 0.05");
        assert_eq!(shown(1500, "JPY"), "JPY 1500");
        assert_eq!(shown(1250, "KWD"), "KWD 1.250");
        assert_eq!(shown(10001, "CLF"), "CLF 1.0001");
        assert_eq!(shown(3, "XAU"), "XAU 3");
    }

    #[test]
    fn every_currency_with_other_decimals_is_a_known_code_in_order() {
        let codes: Vec<&str> = DECIMALS_OTHER_THAN_TWO.iter().map(|(c, _)| *c).collect();
        assert!(
            codes.windows(2).all(|w| w[0] < w[1]),
            "sorted, for binary search"
        );
        for code in codes {
            assert!(ISO_4217.binary_search(&code).is_ok(), "{code}");
        }
    }
}
