//! The charts of the comparison statistics and of training: performance profiles (the share of runs better
//! than each threshold, rliable's score distributions) and the critical-difference diagram
//! of the arms' average ranks, and loss curves with their chance levels. Same fonts and palette as [`super::charts`].

use super::charts::{colour, draw_legend, err, shorten, CAPTION, DESC, FONT, LEGEND, TICK, WIDTH};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One arm's profile: (threshold, share of runs better than it), thresholds ascending.
pub struct Profile {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Step lines of each arm's share of runs better than a threshold, against the threshold.
pub fn profile_chart(title: &str, x_label: &str, profiles: &[Profile]) -> Result<String, String> {
    let xs = profiles.iter().flat_map(|p| p.points.iter().map(|q| q.0));
    let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    let (lo, hi) = if lo.is_finite() && hi > lo {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (plot, legend) = root.split_horizontally(WIDTH - LEGEND);
        let mut chart = ChartBuilder::on(&plot)
            .caption(title, (FONT, CAPTION))
            .margin(14)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(lo..hi, 0.0..1.02)
            .map_err(err)?;
        chart
            .configure_mesh()
            .max_light_lines(1)
            .light_line_style(RGBColor(242, 242, 242))
            .x_desc(x_label)
            .y_desc("share of runs better")
            .label_style((FONT, TICK))
            .axis_desc_style((FONT, DESC))
            .draw()
            .map_err(err)?;
        for (i, p) in profiles.iter().enumerate() {
            let mut steps = Vec::with_capacity(p.points.len() * 2);
            for w in p.points.windows(2) {
                steps.push(w[0]);
                steps.push((w[1].0, w[0].1));
            }
            if let Some(last) = p.points.last() {
                steps.push(*last);
            }
            chart
                .draw_series(LineSeries::new(steps, colour(i).stroke_width(2)))
                .map_err(err)?;
        }
        let entries: Vec<(String, RGBColor)> = profiles
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.clone(), colour(i)))
            .collect();
        draw_legend(&legend, "arm", &entries)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// One arm on a critical-difference diagram.
pub struct Ranked {
    pub name: String,
    pub rank: f64,
    pub baseline: bool,
    /// Significantly different from the baseline (Holm-corrected rank test).
    pub differs: bool,
}

/// The average ranks on an axis from 1 (best) to `k`: each arm a tick with its name, the
/// baseline in bold, arms that differ significantly from it in vermillion, and a bar joining
/// the baseline with every arm that does not.
pub fn cd_chart(title: &str, arms: &[Ranked]) -> Result<String, String> {
    let k = arms.len().max(2) as f64;
    let rows = arms.len() as u32;
    let height = 120 + 30 * rows;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        root.draw(&Text::new(
            title.to_string(),
            (WIDTH as i32 / 2, 24),
            (FONT, CAPTION)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Center)),
        ))
        .map_err(err)?;
        let (x0, x1) = (320.0, WIDTH as f64 - 320.0);
        let x_of = |r: f64| (x0 + (r - 1.0) / (k - 1.0) * (x1 - x0)) as i32;
        let axis_y = 70;
        let ink = RGBColor(60, 60, 60);
        root.draw(&PathElement::new(
            vec![(x_of(1.0), axis_y), (x_of(k), axis_y)],
            ink.stroke_width(2),
        ))
        .map_err(err)?;
        for r in 1..=arms.len() {
            let x = x_of(r as f64);
            root.draw(&PathElement::new(
                vec![(x, axis_y - 6), (x, axis_y)],
                ink.stroke_width(2),
            ))
            .map_err(err)?;
            root.draw(&Text::new(
                r.to_string(),
                (x, axis_y - 18),
                (FONT, TICK)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Center, VPos::Center)),
            ))
            .map_err(err)?;
        }
        let mut order: Vec<&Ranked> = arms.iter().collect();
        order.sort_by(|a, b| a.rank.total_cmp(&b.rank));
        let half = order.len().div_ceil(2);
        for (i, a) in order.iter().enumerate() {
            let x = x_of(a.rank);
            let left = i < half;
            let row = if left { i } else { order.len() - 1 - i };
            let y = axis_y + 40 + 30 * row as i32;
            let c = if a.baseline {
                RGBColor(0, 0, 0)
            } else if a.differs {
                colour(1)
            } else {
                colour(0)
            };
            let end = if left { x0 as i32 - 10 } else { x1 as i32 + 10 };
            root.draw(&PathElement::new(
                vec![(x, axis_y), (x, y), (end, y)],
                c.stroke_width(2),
            ))
            .map_err(err)?;
            let font = (FONT, TICK).into_font();
            let font = if a.baseline {
                font.style(FontStyle::Bold)
            } else {
                font
            };
            let text = format!("{} ({:.2})", shorten(&a.name, 26), a.rank);
            let (pos, tx) = if left {
                (Pos::new(HPos::Right, VPos::Center), end - 6)
            } else {
                (Pos::new(HPos::Left, VPos::Center), end + 6)
            };
            root.draw(&Text::new(text, (tx, y), font.color(&c).pos(pos)))
                .map_err(err)?;
        }
        // The bar of arms not shown to differ from the baseline.
        if let Some(b) = arms.iter().find(|a| a.baseline) {
            let same: Vec<f64> = arms
                .iter()
                .filter(|a| !a.differs)
                .map(|a| a.rank)
                .chain([b.rank])
                .collect();
            let lo = same.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = same.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if hi > lo {
                root.draw(&PathElement::new(
                    vec![(x_of(lo), axis_y + 16), (x_of(hi), axis_y + 16)],
                    RGBColor(0, 0, 0).stroke_width(5),
                ))
                .map_err(err)?;
            }
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// One loss curve: training (drawn faint) or validation (bold) of one model.
pub struct LossCurve {
    pub name: String,
    /// Same colour for a model's two curves.
    pub colour: usize,
    /// A training curve (drawn faint).
    pub training: bool,
    pub points: Vec<(f64, f64)>,
}

/// Loss per epoch for one kind of target, training faint and validation bold, with a
/// grey line at each chance level (the loss of a uniform prediction).
pub fn loss_chart(
    title: &str,
    curves: &[LossCurve],
    chance: &[(String, f64)],
) -> Result<String, String> {
    let xs = curves.iter().flat_map(|c| c.points.iter().map(|p| p.0));
    let ys = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.1))
        .chain(chance.iter().map(|c| c.1))
        .filter(|y| y.is_finite());
    let (x1, mut y0, mut y1) = (xs.fold(1.0f64, f64::max), f64::INFINITY, f64::NEG_INFINITY);
    for y in ys {
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if !y0.is_finite() {
        (y0, y1) = (0.0, 1.0);
    }
    let pad = ((y1 - y0) * 0.06).max(1e-3);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (plot, legend) = root.split_horizontally(WIDTH - LEGEND);
        let mut chart = ChartBuilder::on(&plot)
            .caption(title, (FONT, CAPTION))
            .margin(14)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(0.5..x1.max(2.0) + 0.5, (y0 - pad).max(0.0)..y1 + pad)
            .map_err(err)?;
        chart
            .configure_mesh()
            .max_light_lines(1)
            .light_line_style(RGBColor(242, 242, 242))
            .x_desc("epoch")
            .y_desc("loss")
            .x_labels((x1 as usize).clamp(2, 11))
            .x_label_formatter(&|x| {
                if x.fract() == 0.0 && *x >= 1.0 {
                    format!("{x:.0}")
                } else {
                    String::new()
                }
            })
            .label_style((FONT, TICK))
            .axis_desc_style((FONT, DESC))
            .draw()
            .map_err(err)?;
        let grey = RGBColor(120, 120, 120);
        // Chance as one solid grey line: a dashed one is a hundred SVG segments.
        for (_, level) in chance {
            chart
                .draw_series(LineSeries::new(
                    [(0.5, *level), (x1.max(2.0) + 0.5, *level)],
                    grey.stroke_width(2),
                ))
                .map_err(err)?;
        }
        for c in curves {
            let pts: Vec<(f64, f64)> = c
                .points
                .iter()
                .copied()
                .filter(|p| p.1.is_finite())
                .collect();
            let style = colour(c.colour).stroke_width(2);
            // A history of an epoch or three shows its epochs as dots, or it would not show.
            if pts.len() <= 3 {
                let dot = colour(c.colour);
                chart
                    .draw_series(pts.iter().map(|&p| {
                        if c.training {
                            Circle::new(p, 4, dot.stroke_width(2))
                        } else {
                            Circle::new(p, 4, dot.filled())
                        }
                    }))
                    .map_err(err)?;
            }
            // Training as a faint thin line: a dashed one is hundreds of SVG segments.
            let style = if c.training {
                colour(c.colour).mix(0.45).stroke_width(1)
            } else {
                style
            };
            chart
                .draw_series(LineSeries::new(pts, style))
                .map_err(err)?;
        }
        let mut entries: Vec<(String, RGBColor)> = Vec::new();
        for c in curves {
            if !entries.iter().any(|e| e.0 == c.name) {
                entries.push((c.name.clone(), colour(c.colour)));
            }
        }
        entries.extend(
            chance
                .iter()
                .map(|(name, level)| (format!("chance {name} = {level:.3}"), grey)),
        );
        draw_legend(&legend, "bold: validation, faint: training", &entries)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}
