//! The charts, drawn as SVG strings.

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use std::sync::Once;

static FONTS: Once = Once::new();

/// plotters measures text with ab_glyph; give it DejaVu Sans under the family name it asks
/// for, so reports render the same on machines without any fonts installed.
pub fn register_fonts() {
    FONTS.call_once(|| {
        for (style, bytes) in [
            (FontStyle::Normal, dejavu::sans::regular()),
            (FontStyle::Bold, dejavu::sans::bold()),
        ] {
            // DejaVu is a valid font; a failure here would be a packaging bug.
            plotters::style::register_font("sans-serif", style, bytes)
                .unwrap_or_else(|_| panic!("the embedded DejaVu font did not load"));
        }
    });
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// A vertical bar per label.
pub fn bar_chart(
    title: &str,
    labels: &[String],
    values: &[f64],
    y_label: &str,
) -> Result<String, String> {
    let mut svg = String::new();
    let width = (160 + 70 * labels.len()).clamp(520, 1100) as u32;
    {
        let root = SVGBackend::with_string(&mut svg, (width, 380)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let ymax = finite.iter().fold(0f64, |m, v| m.max(*v)).max(1e-3) * 1.15;
        let n = labels.len().max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(60)
            .y_label_area_size(60)
            .build_cartesian_2d((0..n - 1).into_segmented(), 0f64..ymax)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .y_desc(y_label)
            .x_labels(n)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .draw()
            .map_err(err)?;
        chart
            .draw_series(
                Histogram::vertical(&chart)
                    .style(RGBColor(70, 110, 170).filled())
                    .margin(8)
                    .data(
                        values
                            .iter()
                            .enumerate()
                            .filter(|(_, v)| v.is_finite())
                            .map(|(i, v)| (i, *v)),
                    ),
            )
            .map_err(err)?;
        chart
            .draw_series(
                values
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| v.is_finite())
                    .map(|(i, v)| {
                        Text::new(
                            format!("{v:.3}"),
                            (SegmentValue::CenterOf(i), *v + ymax * 0.02),
                            ("sans-serif", 13).into_font().color(&BLACK),
                        )
                    }),
            )
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// A heat map of counts, shaded by each true class's share; counts written in the cells.
pub fn confusion_chart(
    title: &str,
    classes: &[String],
    matrix: &[Vec<usize>],
) -> Result<String, String> {
    let n = classes.len();
    let cell = (640 / n.max(1)).clamp(44, 84) as u32;
    let side = cell * n as u32;
    // Column labels sit under cells of `cell` pixels, about 6.5 pixels a character.
    let max_chars = (cell as usize * 2 / 13).max(3);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (side + 220, side + 170)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(130)
            .build_cartesian_2d((0..n - 1).into_segmented(), (0..n - 1).into_segmented())
            .map_err(err)?;
        let name = |v: &SegmentValue<usize>, flip: bool| match v {
            SegmentValue::CenterOf(i) if *i < n => {
                let idx = if flip { n - 1 - *i } else { *i };
                let full = classes.get(idx).cloned().unwrap_or_default();
                if flip {
                    full
                } else {
                    shorten(&full, max_chars)
                }
            }
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("predicted")
            .y_desc("true")
            .x_labels(n)
            .y_labels(n)
            .x_label_formatter(&|v| name(v, false))
            .y_label_formatter(&|v| name(v, true))
            .x_label_style(("sans-serif", 11))
            .draw()
            .map_err(err)?;
        for (t, row) in matrix.iter().enumerate() {
            let total: usize = row.iter().sum();
            let y = n - 1 - t;
            for (p, &count) in row.iter().enumerate() {
                let share = if total > 0 {
                    count as f64 / total as f64
                } else {
                    0.0
                };
                let shade = (255.0 * (1.0 - 0.85 * share)) as u8;
                let colour = RGBColor(shade, shade, 255);
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [
                            (SegmentValue::Exact(p), SegmentValue::Exact(y)),
                            (SegmentValue::Exact(p + 1), SegmentValue::Exact(y + 1)),
                        ],
                        colour.filled(),
                    )))
                    .map_err(err)?;
                let text_colour = if share > 0.55 { WHITE } else { BLACK };
                chart
                    .draw_series(std::iter::once(Text::new(
                        count.to_string(),
                        (SegmentValue::CenterOf(p), SegmentValue::CenterOf(y)),
                        ("sans-serif", 12).into_font().color(&text_colour).pos(
                            plotters::style::text_anchor::Pos::new(
                                plotters::style::text_anchor::HPos::Center,
                                plotters::style::text_anchor::VPos::Center,
                            ),
                        ),
                    )))
                    .map_err(err)?;
            }
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Cut a label to `max` characters with an ellipsis.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// One line per named series of (x, y) points, with a legend.
pub fn line_chart(
    title: &str,
    series: &[(String, Vec<(f64, f64)>)],
    x_label: &str,
    y_label: &str,
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let points = || {
            series
                .iter()
                .flat_map(|(_, p)| p)
                .filter(|p| p.1.is_finite())
        };
        let xmax = points().fold(1f64, |m, p| m.max(p.0));
        let (ymin, ymax) = points().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.1), hi.max(p.1))
        });
        let (ymin, ymax) = if ymin.is_finite() {
            let pad = ((ymax - ymin) * 0.08).max(1e-3);
            (ymin - pad, ymax + pad)
        } else {
            (0.0, 1.0)
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(1f64..xmax.max(2.0), ymin..ymax)
            .map_err(err)?;
        chart
            .configure_mesh()
            .light_line_style(RGBColor(240, 240, 240))
            .x_desc(x_label)
            .y_desc(y_label)
            .draw()
            .map_err(err)?;
        for (i, (name, pts)) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    pts.iter().copied().filter(|p| p.1.is_finite()),
                    color.stroke_width(2),
                ))
                .map_err(err)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .label_font(("sans-serif", 13))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}
