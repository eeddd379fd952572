//! The density plot: containers on the x axis (log); the time until all were
//! running, the host memory per container (MemAvailable) and the kernel's share
//! of it on the y axes of three panels; one line per runtime.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::prelude::*;

/// One point: N, and what was measured with N containers.
#[derive(Debug, Clone, Copy)]
pub struct Point {
    pub n: u32,
    pub secs_until_all_running: f64,
    pub mem_available_kib_per_container: f64,
    pub kernel_kib_per_container: f64,
}

/// One runtime's points.
#[derive(Debug, Clone)]
pub struct Series {
    pub runtime: String,
    pub points: Vec<Point>,
}

const COLORS: [RGBColor; 4] = [
    RGBColor(0xd6, 0x27, 0x28), // brig
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
];

pub fn density_svg(path: &Path, title: &str, series: &[Series]) -> Result<()> {
    let root = SVGBackend::new(path, (1400, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let root = root
        .titled(title, ("sans-serif", 18))
        .map_err(|e| anyhow!("{e}"))?;
    let panels = root.split_evenly((1, 3));
    let n_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.n))
        .max()
        .unwrap_or(10)
        .max(10) as f64;
    type Pick = fn(&Point) -> f64;
    let picks: [(&str, Pick); 3] = [
        ("seconds until all running", |p| p.secs_until_all_running),
        ("KiB per container: MemAvailable drop", |p| {
            p.mem_available_kib_per_container
        }),
        (
            "KiB per container: kernel (slab, percpu, stacks, page tables)",
            |p| p.kernel_kib_per_container,
        ),
    ];
    for (panel, (label, pick)) in panels.iter().zip(picks) {
        let y_max = series
            .iter()
            .flat_map(|s| s.points.iter().map(pick))
            .fold(0.0f64, f64::max)
            .max(1e-3)
            * 1.15;
        // MemAvailable can drop below the reading before (noise): show it.
        let y_min = series
            .iter()
            .flat_map(|s| s.points.iter().map(pick))
            .fold(0.0f64, f64::min)
            * 1.15;
        let mut chart = ChartBuilder::on(panel)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .caption(label, ("sans-serif", 15))
            .build_cartesian_2d((5.0f64..n_max * 1.5).log_scale(), y_min..y_max)
            .map_err(|e| anyhow!("{e}"))?;
        chart
            .configure_mesh()
            .x_desc("containers")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
        for (i, s) in series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let pts: Vec<(f64, f64)> = s.points.iter().map(|p| (p.n as f64, pick(p))).collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(|e| anyhow!("{e}"))?
                .label(s.runtime.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart
                .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))
                .map_err(|e| anyhow!("{e}"))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
    }
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_an_svg() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.svg");
        let pt = |n, secs, avail, kernel| Point {
            n,
            secs_until_all_running: secs,
            mem_available_kib_per_container: avail,
            kernel_kib_per_container: kernel,
        };
        let s = vec![
            Series {
                runtime: "brig".into(),
                points: vec![pt(10, 0.1, -30.0, 80.0), pt(100, 1.0, 310.0, 200.0)],
            },
            Series {
                runtime: "runc".into(),
                points: vec![pt(10, 0.3, 900.0, 120.0), pt(100, 3.0, 880.0, 220.0)],
            },
        ];
        density_svg(&p, "density", &s).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.starts_with("<svg") && text.contains("brig") && text.contains("runc"));
    }
}
