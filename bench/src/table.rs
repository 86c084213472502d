//! The Markdown tables the subcommands print.

/// "0.981 (0.95–1.01)": the median of the per-round ratios and their range.
pub fn ratio_cell(ratios: &[f64]) -> String {
    match ratios {
        [] => "–".to_owned(),
        [only] => format!("{only:.3}"),
        _ => format!(
            "{:.3} ({:.2}–{:.2})",
            ratios[ratios.len() / 2],
            ratios[0],
            ratios[ratios.len() - 1]
        ),
    }
}

/// Prints one Markdown table row.
pub fn row(cells: impl IntoIterator<Item = String>) {
    let cells: Vec<String> = cells.into_iter().collect();
    println!("| {} |", cells.join(" | "));
}
