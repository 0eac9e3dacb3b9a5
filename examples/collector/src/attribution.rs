//! Multi-touch attribution: which channels get the credit for a conversion, under five models,
//! from the touches of the converting person (every device and id the identity graph links)
//! within a lookback window before the conversion.
//!
//! Models (weights over the window's touches in time order, summing to 1 per conversion):
//! - `last_non_direct`: all to the latest touch that is not `direct`/`internal`; to the latest
//!   touch when every touch is direct (as GA4's last-click);
//! - `first_touch`: all to the earliest touch;
//! - `linear`: equal shares;
//! - `position_based`: 40 % first, 40 % last, 20 % shared by the touches between (one touch:
//!   100 %; two: 50/50);
//! - `time_decay`: weight `2^(-(conversion - touch) / half-life)` (7 days by default), normalised.
//!
//! A conversion with no touch in its window is credited to [`NO_TOUCH`]. Conversions and
//! revenue are credited fractionally; a report's conversions add up to the number of
//! conversions, its revenue to their revenue, under every model.
//!
//! Owns: the models and the report arithmetic. Must never: do I/O or decide who is one person
//! (`people.rs` does), or lose a conversion (each is credited somewhere, exactly once).

use std::collections::BTreeMap;

use serde::Serialize;

/// The channel a conversion without touches in its window is credited to.
pub const NO_TOUCH: &str = "(no touch)";
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    LastNonDirect,
    FirstTouch,
    Linear,
    PositionBased,
    TimeDecay,
}

impl Model {
    pub const ALL: [Model; 5] = [Model::LastNonDirect, Model::FirstTouch, Model::Linear, Model::PositionBased, Model::TimeDecay];

    pub fn as_str(self) -> &'static str {
        match self {
            Model::LastNonDirect => "last_non_direct",
            Model::FirstTouch => "first_touch",
            Model::Linear => "linear",
            Model::PositionBased => "position_based",
            Model::TimeDecay => "time_decay",
        }
    }

    pub fn parse(s: &str) -> Option<Model> {
        Model::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// The report's parameters.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub lookback_ms: i64,
    pub half_life_ms: i64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings { lookback_ms: 30 * DAY_MS, half_life_ms: 7 * DAY_MS }
    }
}

/// A touch of one person: when (epoch ms) and its channel.
#[derive(Clone, Debug, PartialEq)]
pub struct Touch {
    pub at_ms: i64,
    pub channel: String,
}

/// A conversion: when, how much, and the person's touches (any order).
#[derive(Clone, Debug)]
pub struct Conversion<'a> {
    pub at_ms: i64,
    pub revenue: f64,
    pub touches: &'a [Touch],
}

/// Credit of one channel under one model.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Credit {
    pub conversions: f64,
    pub revenue: f64,
}

/// `(channel, weight)` for one conversion under `model`; weights sum to 1.
pub fn weights<'t>(model: Model, touches: &'t [Touch], at_ms: i64, s: &Settings) -> Vec<(&'t str, f64)> {
    let mut window: Vec<&Touch> = touches.iter().filter(|t| t.at_ms <= at_ms && at_ms - t.at_ms <= s.lookback_ms).collect();
    window.sort_by(|a, b| a.at_ms.cmp(&b.at_ms).then_with(|| a.channel.cmp(&b.channel)));
    let n = window.len();
    if n == 0 {
        return vec![(NO_TOUCH, 1.0)];
    }
    let all_to = |t: &'t Touch| vec![(t.channel.as_str(), 1.0)];
    match model {
        Model::FirstTouch => all_to(window[0]),
        Model::LastNonDirect => {
            let last = window.iter().rev().find(|t| !matches!(t.channel.as_str(), "direct" | "internal")).unwrap_or(&window[n - 1]);
            all_to(last)
        }
        Model::Linear => window.iter().map(|t| (t.channel.as_str(), 1.0 / n as f64)).collect(),
        Model::PositionBased => match n {
            1 => all_to(window[0]),
            2 => vec![(window[0].channel.as_str(), 0.5), (window[1].channel.as_str(), 0.5)],
            _ => window
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let w = if i == 0 || i == n - 1 { 0.4 } else { 0.2 / (n - 2) as f64 };
                    (t.channel.as_str(), w)
                })
                .collect(),
        },
        Model::TimeDecay => {
            let half = s.half_life_ms.max(1) as f64;
            let raw: Vec<f64> = window.iter().map(|t| 0.5f64.powf((at_ms - t.at_ms) as f64 / half)).collect();
            let total: f64 = raw.iter().sum();
            window.iter().zip(raw).map(|(t, w)| (t.channel.as_str(), w / total)).collect()
        }
    }
}

/// Credit per channel for `conversions` under `model`.
pub fn report(model: Model, conversions: &[Conversion<'_>], s: &Settings) -> BTreeMap<String, Credit> {
    let mut out: BTreeMap<String, Credit> = BTreeMap::new();
    for c in conversions {
        for (channel, w) in weights(model, c.touches, c.at_ms, s) {
            let e = out.entry(channel.to_string()).or_default();
            e.conversions += w;
            e.revenue += w * c.revenue;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 60 * 60 * 1000;

    fn t(at_ms: i64, channel: &str) -> Touch {
        Touch { at_ms, channel: channel.into() }
    }

    fn w(model: Model, touches: &[Touch], at: i64) -> Vec<(String, f64)> {
        weights(model, touches, at, &Settings::default()).into_iter().map(|(c, w)| (c.to_string(), (w * 1e6).round() / 1e6)).collect()
    }

    fn pairs(v: &[(&str, f64)]) -> Vec<(String, f64)> {
        v.iter().map(|(c, w)| (c.to_string(), *w)).collect()
    }

    /// email (day 0) → paid_search (day 10) → direct (day 20) → order on day 21.
    fn journey() -> Vec<Touch> {
        vec![t(20 * 24 * H, "direct"), t(0, "email"), t(10 * 24 * H, "paid_search")]
    }
    const ORDER: i64 = 21 * 24 * H;

    #[test]
    fn last_non_direct_skips_direct_unless_it_is_all_there_is() {
        assert_eq!(w(Model::LastNonDirect, &journey(), ORDER), pairs(&[("paid_search", 1.0)]));
        assert_eq!(w(Model::LastNonDirect, &[t(0, "direct"), t(H, "internal")], 2 * H), pairs(&[("internal", 1.0)]));
        assert_eq!(w(Model::LastNonDirect, &[t(0, "direct")], H), pairs(&[("direct", 1.0)]));
    }

    #[test]
    fn first_touch_and_linear() {
        assert_eq!(w(Model::FirstTouch, &journey(), ORDER), pairs(&[("email", 1.0)]));
        let third = (1.0f64 / 3.0 * 1e6).round() / 1e6;
        assert_eq!(w(Model::Linear, &journey(), ORDER), pairs(&[("email", third), ("paid_search", third), ("direct", third)]));
    }

    #[test]
    fn position_based_is_40_20_40() {
        assert_eq!(w(Model::PositionBased, &journey(), ORDER), pairs(&[("email", 0.4), ("paid_search", 0.2), ("direct", 0.4)]));
        let four = [t(0, "a"), t(1, "b"), t(2, "c"), t(3, "d")];
        assert_eq!(w(Model::PositionBased, &four, 4), pairs(&[("a", 0.4), ("b", 0.1), ("c", 0.1), ("d", 0.4)]));
        assert_eq!(w(Model::PositionBased, &four[..2], 4), pairs(&[("a", 0.5), ("b", 0.5)]));
        assert_eq!(w(Model::PositionBased, &four[..1], 4), pairs(&[("a", 1.0)]));
    }

    #[test]
    fn time_decay_halves_every_seven_days() {
        // Ages 21, 11 and 1 days: raw weights 2^-3, 2^-(11/7), 2^-(1/7).
        let raw = [0.125f64, 0.5f64.powf(11.0 / 7.0), 0.5f64.powf(1.0 / 7.0)];
        let sum: f64 = raw.iter().sum();
        let r = |x: f64| (x / sum * 1e6).round() / 1e6;
        // email is 21 days old: inside the 30-day window.
        assert_eq!(w(Model::TimeDecay, &journey(), ORDER), vec![
            ("email".to_string(), r(raw[0])),
            ("paid_search".to_string(), r(raw[1])),
            ("direct".to_string(), r(raw[2])),
        ]);
        // Two touches 7 days apart: 2/3 and 1/3.
        let two = [t(0, "a"), t(7 * 24 * H, "b")];
        assert_eq!(w(Model::TimeDecay, &two, 7 * 24 * H), pairs(&[("a", 0.333333), ("b", 0.666667)]));
    }

    #[test]
    fn the_window_is_the_lookback_before_the_conversion() {
        // Day 0's email is 31 days old: out of the default 30-day window; a touch after the
        // conversion never counts.
        let touches = [t(0, "email"), t(30 * 24 * H, "paid_social"), t(40 * 24 * H, "display")];
        assert_eq!(w(Model::FirstTouch, &touches, 31 * 24 * H), pairs(&[("paid_social", 1.0)]));
        assert_eq!(w(Model::Linear, &touches[..1], 31 * 24 * H), pairs(&[(NO_TOUCH, 1.0)]));
        assert_eq!(w(Model::FirstTouch, &[], 0), pairs(&[(NO_TOUCH, 1.0)]));
    }

    #[test]
    fn a_report_credits_every_conversion_and_all_revenue_exactly_once() {
        let j = journey();
        let lonely: [Touch; 0] = [];
        let conversions = [
            Conversion { at_ms: ORDER, revenue: 100.0, touches: &j },
            Conversion { at_ms: ORDER, revenue: 50.0, touches: &lonely },
        ];
        for model in Model::ALL {
            let r = report(model, &conversions, &Settings::default());
            let conv: f64 = r.values().map(|c| c.conversions).sum();
            let rev: f64 = r.values().map(|c| c.revenue).sum();
            assert!((conv - 2.0).abs() < 1e-9 && (rev - 150.0).abs() < 1e-9, "{model:?}: {r:?}");
            assert_eq!(r[NO_TOUCH], Credit { conversions: 1.0, revenue: 50.0 });
        }
        let r = report(Model::PositionBased, &conversions, &Settings::default());
        assert!((r["paid_search"].revenue - 20.0).abs() < 1e-9);
        assert!((r["email"].conversions - 0.4).abs() < 1e-9);
    }
}
