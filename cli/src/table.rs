//! The one table printer of the command line (`list`, `image ls`, `container
//! ls`, `container stats`, `network ls`, `volume ls`, ...): each column as wide
//! as its widest cell, three spaces apart, no trailing blanks, as docker and
//! runc print theirs.

/// Print `rows` (the header first) on stdout.
pub fn print<R: AsRef<[S]>, S: AsRef<str>>(rows: &[R]) -> anyhow::Result<()> {
    let mut width: Vec<usize> = Vec::new();
    for r in rows {
        for (i, c) in r.as_ref().iter().enumerate() {
            let n = c.as_ref().chars().count();
            match width.get_mut(i) {
                Some(w) => *w = (*w).max(n),
                None => width.push(n),
            }
        }
    }
    for r in rows {
        crate::out!("{}", line(r.as_ref(), &width))?;
    }
    Ok(())
}

fn line<S: AsRef<str>>(cells: &[S], width: &[usize]) -> String {
    cells
        .iter()
        .zip(width)
        .map(|(c, w)| format!("{:<w$}", c.as_ref()))
        .collect::<Vec<_>>()
        .join("   ")
        .trim_end()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_pad_to_the_widest_cell_and_lines_end_without_blanks() {
        let rows = [
            ["ID", "STATUS", "NAME"],
            ["abc", "running", ""],
            ["x", "", "n"],
        ];
        let w = [3, 7, 4];
        let lines: Vec<String> = rows.iter().map(|r| line(r, &w)).collect();
        assert_eq!(
            lines,
            ["ID    STATUS    NAME", "abc   running", "x               n"]
        );
    }
}
