//! Sizes as runc and docker take them (go-units' `RAMInBytes`): the one
//! parser behind `brig update --memory ...` and `brig container run --memory
//! ... --tmpfs size=...`.

/// A number (maybe with a fraction) and an optional binary unit k, m, g, t
/// or p in any case, maybe followed by "i" and/or "b" ("512m", "1.5G",
/// "1GiB", "64 KB", "100b", "1048576"). Negative sizes are not sizes: a
/// flag that takes -1 for unlimited says so itself.
pub fn parse_size(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let bad = || format!("{s:?} is not a size like 512m, 1g or 1048576");
    let num_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(num_end);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') || num.matches('.').count() > 1
    {
        return Err(bad());
    }
    // go-units allows one space between the number and the unit.
    let unit = unit.strip_prefix(' ').unwrap_or(unit).to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return Err(bad()),
    };
    let too_big = || format!("{s:?} is too large (at most {} bytes)", i64::MAX);
    match num.split_once('.') {
        None => num
            .parse::<i64>()
            .map_err(|_| too_big())?
            .checked_mul(1i64 << shift)
            .ok_or_else(too_big),
        Some(_) => {
            let v = num.parse::<f64>().map_err(|_| bad())? * (1u64 << shift) as f64;
            if v >= i64::MAX as f64 {
                return Err(too_big());
            }
            Ok(v as i64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    /// The union of the cases of the two parsers this one replaced
    /// (cli/update.rs and engine/flags.rs).
    #[test]
    fn sizes() {
        for (s, want) in [
            ("1048576", 1 << 20),
            ("4096", 4096),
            ("512m", 512 << 20),
            ("512M", 512 << 20),
            ("512mb", 512 << 20),
            ("512MiB", 512 << 20),
            ("1g", 1 << 30),
            ("1G", 1 << 30),
            ("1gb", 1 << 30),
            ("1GiB", 1 << 30),
            ("10k", 10240),
            ("64k", 64 << 10),
            ("64 KB", 64 << 10),
            ("2t", 2 << 40),
            ("1p", 1 << 50),
            ("1.5k", 1536),
            ("0.5g", 512 << 20),
            ("100b", 100),
            ("0", 0),
        ] {
            assert_eq!(parse_size(s), Ok(want), "{s}");
        }
    }

    #[test]
    fn bad_sizes_say_what_a_size_looks_like() {
        for s in [
            "", "m", "12x", "12q", "1.2.3m", ".5m", "5.m", "-1", "-2", "-1m", "1mm", "1e3", "0x10",
            "1  m",
        ] {
            let e = parse_size(s).unwrap_err();
            assert!(e.contains("is not a size like 512m"), "{s}: {e}");
        }
        let e = parse_size("9999999999p").unwrap_err();
        assert!(e.contains("too large"), "{e}");
        assert!(parse_size("8192p").is_err(), "2^63 bytes overflows");
        assert!(parse_size("99999999999999999999")
            .unwrap_err()
            .contains("too large"));
    }
}
