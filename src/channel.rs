//! Channel classification: which marketing channel brought the visitor, from the landing
//! page's campaign data, the referrer and the page's own URL.
//!
//! Owns: the [`Channel`] names (stable, they go on the wire and into storage) and the rule
//! tables. A table is data: an ordered list of [`Rule`]s, each a channel and a list of
//! conditions that must all hold; the first matching rule wins, and nothing matching means
//! [`Channel::Unassigned`]. [`DEFAULT_RULES`] follows Google Analytics 4's published default
//! channel group (its rule order, medium patterns and source lists, the lists as data in
//! `src/channel/ga4/`), plus what GA4 has no answer for: Internal, QR/Offline and app
//! referrers (`android-app://…`). The opt-in [`Preset::Extended`] inserts heuristics GA4 does
//! not have ([`EXTENDED_RULES`], each next to the GA4 rule it extends; only with the Cargo
//! feature `channels`, which the small core leaves out: there it classifies as
//! [`Preset::Ga4`], and the web layer refuses the option). [`ChannelConfig`]
//! prepends custom rules (or replaces the tables) and declares extra internal hosts.
//! docs/channels.md has the tables as Markdown, with the GA4 rule each row implements and the
//! mapping of GA4's channel names onto ours; a test keeps it equal to the data.
//!
//! Matching is ASCII case-insensitive: inputs are lower-cased and terms are lower-case.
//! Must never: read anything but its three inputs (campaign, referrer, page URL), depend on
//! the order of query parameters, or panic on any input.
//!
//! Known limits: a Google click id (`gclid`/`gbraid`/`wbraid`) is Paid Search even when the
//! ad ran on YouTube or the Display Network (GA4 resolves this with the Google Ads data, which
//! the page does not have); GA4's own detection of search-engine referrers is unpublished and
//! approximated by [`SEARCH_SITES`]; "same site" is the heuristic of [`crate::url::site`].

use std::borrow::Cow;

use crate::campaign::Campaign;
use crate::url;

/// A marketing channel. [`Channel::as_str`] is the stable name used on the wire and in
/// storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    Direct,
    /// The referrer is the same site as the page (or an `internal_hosts` entry) and the URL
    /// carries no campaign data.
    Internal,
    OrganicSearch,
    PaidSearch,
    OrganicSocial,
    PaidSocial,
    Email,
    Sms,
    MobilePush,
    Display,
    Affiliate,
    Referral,
    /// Organic video (YouTube, Vimeo, Twitch, …).
    Video,
    PaidVideo,
    Audio,
    CrossNetwork,
    /// QR codes, print, point of sale and other offline media.
    Offline,
    /// A paid medium with a source that is not a known search, social or video site.
    PaidOther,
    Unassigned,
}

impl Channel {
    /// Every channel, in declaration order.
    pub const ALL: [Channel; 19] = [
        Channel::Direct,
        Channel::Internal,
        Channel::OrganicSearch,
        Channel::PaidSearch,
        Channel::OrganicSocial,
        Channel::PaidSocial,
        Channel::Email,
        Channel::Sms,
        Channel::MobilePush,
        Channel::Display,
        Channel::Affiliate,
        Channel::Referral,
        Channel::Video,
        Channel::PaidVideo,
        Channel::Audio,
        Channel::CrossNetwork,
        Channel::Offline,
        Channel::PaidOther,
        Channel::Unassigned,
    ];

    /// The stable name (`organic_search`, `paid_social`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Direct => "direct",
            Channel::Internal => "internal",
            Channel::OrganicSearch => "organic_search",
            Channel::PaidSearch => "paid_search",
            Channel::OrganicSocial => "organic_social",
            Channel::PaidSocial => "paid_social",
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::MobilePush => "mobile_push",
            Channel::Display => "display",
            Channel::Affiliate => "affiliate",
            Channel::Referral => "referral",
            Channel::Video => "video",
            Channel::PaidVideo => "paid_video",
            Channel::Audio => "audio",
            Channel::CrossNetwork => "cross_network",
            Channel::Offline => "offline",
            Channel::PaidOther => "paid_other",
            Channel::Unassigned => "unassigned",
        }
    }

    /// The channel with this stable name (exact, lower-case).
    pub fn from_name(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// Whether the touch says where the visitor came from (everything but Direct and
    /// Internal). The journey's "last non-direct touch" keeps the latest such touch.
    pub fn is_attributable(self) -> bool {
        !matches!(self, Channel::Direct | Channel::Internal)
    }
}

/// A list of lower-case terms: static (the built-in tables: one string, terms separated by
/// `|`, or by line breaks in the GA4 lists, which keeps the tables small in the wasm) or
/// owned (configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Terms {
    Static(&'static str),
    /// GA4's source lists: a term per line; `x~` stands for `x` and `x.com`.
    Lines(&'static str),
    Owned(Vec<String>),
}

/// Which built-in table follows the custom rules.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Preset {
    /// GA4's default channel group ([`DEFAULT_RULES`]).
    #[default]
    Ga4,
    /// [`DEFAULT_RULES`] with the heuristics of [`EXTENDED_RULES`] inserted (feature
    /// `channels`; without it, as [`Preset::Ga4`]: the table is not compiled in).
    Extended,
}

impl Preset {
    /// The preset of a configuration name (`ga4`, `omnitrail-extended`).
    pub fn from_name(name: &str) -> Option<Preset> {
        match name {
            "ga4" => Some(Preset::Ga4),
            "omnitrail-extended" => Some(Preset::Extended),
            _ => None,
        }
    }
}

impl Terms {
    /// Owned terms from configuration (lower-cased here).
    pub fn owned<S: AsRef<str>>(terms: &[S]) -> Terms {
        Terms::Owned(terms.iter().map(|t| t.as_ref().trim().to_ascii_lowercase()).collect())
    }

    /// Whether `f` holds for any term. `f` is a `&dyn Fn`: one copy of the three scans, not
    /// one per condition kind (nine, 1.9 KB of the wasm; docs/size.md).
    fn any(&self, f: &dyn Fn(&str) -> bool) -> bool {
        match self {
            Terms::Static(t) => t.split('|').any(f),
            Terms::Lines(t) => t.split('\n').any(f),
            Terms::Owned(t) => t.iter().any(|s| f(s)),
        }
    }
}

/// One condition of a rule. Text conditions take [`Terms`]; the condition holds when any term
/// matches.
///
/// Two kinds of term matching:
/// - *patterns* (`Medium`, `Source`, `Campaign`, `SourceOrMedium`): exact, or with a `*` at
///   the start and/or end for "ends with" / "starts with" / "contains" (`*cp*`, `paid*`).
/// - *sites* (`SourceSite`, `ReferrerSite`): a term with a dot is a domain that matches
///   itself and its subdomains (`t.co`, `mail.google.com`); a term without a dot is a brand
///   that matches any host whose site starts with that label (`google` matches
///   `www.google.co.uk` and `news.google.com`) and a `utm_source` equal to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cond {
    /// No `utm_*` parameter and no click id.
    NoCampaign,
    /// No referrer (empty, or without a host: `about:blank`).
    NoReferrer,
    /// The referrer is the same site as the page, or matches `internal_hosts`.
    SameSiteReferrer,
    /// A referrer (web or app) that is not same-site.
    CrossSiteReferrer,
    /// No `utm_*` parameter (click ids may be present). GA4 reads no click id but Google's.
    NoUtm,
    /// `utm_campaign` is a shopping campaign: GA4's `^(.*(([^a-df-z]|^)shop|shopping).*)$`.
    ShoppingCampaign,
    /// One of these click ids is present.
    ClickId(Terms),
    /// `utm_medium` matches a pattern.
    Medium(Terms),
    /// `utm_source` matches a pattern.
    Source(Terms),
    /// `utm_source` or `utm_medium` matches a pattern.
    SourceOrMedium(Terms),
    /// `utm_campaign` matches a pattern.
    Campaign(Terms),
    /// The source (`utm_source` when present, else the referrer's web host) is one of these
    /// sites.
    SourceSite(Terms),
    /// The source (as for `SourceSite`, the host without `www.`) is exactly one of these
    /// terms: GA4's "source matches a list".
    SourceIn(Terms),
    /// The referrer's web (`http`/`https`) host is one of these sites, whatever `utm_source`
    /// says.
    ReferrerSite(Terms),
    /// The referrer is an app (`android-app://package/`) whose package is one of these (exact,
    /// or a prefix ending in `.`: `com.google.android.`).
    App(Terms),
}

/// A row of the table: `channel` when every condition in `when` holds. An empty `when`
/// always matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub channel: Channel,
    pub when: Cow<'static, [Cond]>,
}

impl Rule {
    /// A rule from configuration.
    pub fn new(channel: Channel, when: Vec<Cond>) -> Rule {
        Rule { channel, when: Cow::Owned(when) }
    }
}

/// Classification settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelConfig {
    /// Rules tried before the preset's table, in order.
    pub rules: Vec<Rule>,
    /// When true, only `rules` apply (then Unassigned); the preset's table is ignored.
    pub replace_defaults: bool,
    /// The built-in table after `rules`: GA4's (default) or GA4's with our heuristics.
    pub preset: Preset,
    /// Sites whose referrers count as internal besides the page's own site (site terms, see
    /// [`Cond`]): other domains of the same business, a checkout or login provider that
    /// sends visitors back (`paypal.com`, `checkout.stripe.com`).
    pub internal_hosts: Vec<String>,
}

/// What the classification looks at, normalised once.
struct Facts {
    medium: String,
    source: String,
    campaign: String,
    /// `utm_source`, else the referrer's normalised web host.
    source_site: String,
    /// Normalised web host of the referrer (empty for app referrers).
    referrer_host: String,
    /// Package of an app referrer.
    app: String,
    has_referrer: bool,
    same_site: bool,
}

impl Facts {
    fn new(campaign: &Campaign, referrer: &str, page_url: &str, internal_hosts: &[String]) -> Facts {
        let lower = |v: Option<&str>| v.unwrap_or("").to_ascii_lowercase();
        let r = url::parse(referrer);
        let scheme = r.scheme.to_ascii_lowercase();
        let (referrer_host, app) = match scheme.as_str() {
            "android-app" | "ios-app" => (String::new(), r.host.to_ascii_lowercase()),
            _ => (url::normalize_host(r.host), String::new()),
        };
        let has_referrer = !referrer_host.is_empty() || !app.is_empty();
        let page_host = url::parse(page_url).host;
        let same_site = !referrer_host.is_empty()
            && (url::same_site(&referrer_host, page_host) || internal_hosts.iter().any(|h| site_matches(&referrer_host, h)));
        let source = lower(campaign.source());
        let source_site = if source.is_empty() { referrer_host.clone() } else { source.clone() };
        Facts {
            medium: lower(campaign.medium()),
            source,
            campaign: lower(campaign.name()),
            source_site,
            referrer_host,
            app,
            has_referrer,
            same_site,
        }
    }
}

/// `value` matches a pattern term: exact, `*x` (ends with), `x*` (starts with), `*x*`
/// (contains).
fn pattern_matches(value: &str, term: &str) -> bool {
    if value.is_empty() {
        return false;
    }
    match (term.strip_prefix('*'), term.strip_suffix('*')) {
        (Some(rest), Some(_)) => contains(value, rest.strip_suffix('*').unwrap_or(rest)),
        (Some(suffix), None) => value.ends_with(suffix),
        (None, Some(prefix)) => value.starts_with(prefix),
        (None, None) => value == term,
    }
}

/// Substring test without `str::contains`, whose searcher costs ~3 KB of wasm (and brings
/// the panicking-slice formatter).
fn contains(haystack: &str, needle: &str) -> bool {
    needle.is_empty() || haystack.as_bytes().windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// `value` (a normalised host, or a `utm_source`) is the site `term` (see [`Cond`]).
fn site_matches(value: &str, term: &str) -> bool {
    if value.is_empty() || term.is_empty() {
        return false;
    }
    if value == term {
        return true;
    }
    if term.contains('.') {
        return value.len() > term.len() && value.ends_with(term) && value.as_bytes().get(value.len() - term.len() - 1) == Some(&b'.');
    }
    value.contains('.') && url::site(value).split('.').next() == Some(term)
}

/// `value` (a source) is the list entry `term`: equal, or for `x~` equal to `x` or `x.com`.
fn listed(value: &str, term: &str) -> bool {
    !value.is_empty()
        && match term.strip_suffix('~') {
            Some(stem) => value == stem || value.strip_suffix(".com") == Some(stem),
            None => value == term,
        }
}

/// GA4's shopping campaign: `shopping` anywhere, or `shop` at the start or after anything but
/// the letters `a`–`d` and `f`–`z` (`e-shop`, `eshop`, `summer_shop`, not `workshop`).
fn shopping_campaign(campaign: &str) -> bool {
    let b = campaign.as_bytes();
    contains(campaign, "shopping")
        || b.windows(4)
            .enumerate()
            .any(|(i, w)| w == b"shop" && (i == 0 || b.get(i - 1).is_some_and(|&p| !p.is_ascii_lowercase() || p == b'e')))
}

fn app_matches(package: &str, term: &str) -> bool {
    !package.is_empty() && (package == term || (term.ends_with('.') && package.starts_with(term)))
}

impl Cond {
    /// A condition from configuration: `key` is `medium`, `source`, `sourceOrMedium`,
    /// `campaign`, `sourceSite`, `sourceIn`, `referrerSite`, `app` or `clickId` (with `terms`),
    /// or one of the flags `noCampaign`, `noUtm`, `noReferrer`, `sameSiteReferrer`,
    /// `crossSiteReferrer`, `shoppingCampaign` (terms ignored). `None` for an unknown key or a
    /// text condition without terms.
    pub fn parse<S: AsRef<str>>(key: &str, terms: &[S]) -> Option<Cond> {
        let flag = match key {
            "noCampaign" => Some(Cond::NoCampaign),
            "noReferrer" => Some(Cond::NoReferrer),
            "sameSiteReferrer" => Some(Cond::SameSiteReferrer),
            "crossSiteReferrer" => Some(Cond::CrossSiteReferrer),
            "noUtm" => Some(Cond::NoUtm),
            "shoppingCampaign" => Some(Cond::ShoppingCampaign),
            _ => None,
        };
        if flag.is_some() {
            return flag;
        }
        let t = Terms::owned(terms);
        if !t.any(&|x| !x.is_empty()) {
            return None;
        }
        Some(match key {
            "medium" => Cond::Medium(t),
            "source" => Cond::Source(t),
            "sourceOrMedium" => Cond::SourceOrMedium(t),
            "campaign" => Cond::Campaign(t),
            "sourceSite" => Cond::SourceSite(t),
            "sourceIn" => Cond::SourceIn(t),
            "referrerSite" => Cond::ReferrerSite(t),
            "app" => Cond::App(t),
            "clickId" => Cond::ClickId(t),
            _ => return None,
        })
    }

    fn holds(&self, f: &Facts, c: &Campaign) -> bool {
        match self {
            Cond::NoCampaign => c.is_empty(),
            Cond::NoReferrer => !f.has_referrer,
            Cond::SameSiteReferrer => f.same_site,
            Cond::CrossSiteReferrer => f.has_referrer && !f.same_site,
            Cond::NoUtm => !c.has_utm(),
            Cond::ShoppingCampaign => shopping_campaign(&f.campaign),
            Cond::ClickId(t) => c.click_ids().any(|(k, _)| t.any(&|term| term == k)),
            Cond::Medium(t) => t.any(&|p| pattern_matches(&f.medium, p)),
            Cond::Source(t) => t.any(&|p| pattern_matches(&f.source, p)),
            Cond::SourceOrMedium(t) => t.any(&|p| pattern_matches(&f.source, p) || pattern_matches(&f.medium, p)),
            Cond::Campaign(t) => t.any(&|p| pattern_matches(&f.campaign, p)),
            Cond::SourceSite(t) => t.any(&|s| site_matches(&f.source_site, s)),
            Cond::SourceIn(t) => t.any(&|s| listed(&f.source_site, s)),
            Cond::ReferrerSite(t) => t.any(&|s| site_matches(&f.referrer_host, s)),
            Cond::App(t) => t.any(&|p| app_matches(&f.app, p)),
        }
    }
}

/// Classifies page views with the default table and a [`ChannelConfig`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Classifier {
    config: ChannelConfig,
}

impl Classifier {
    pub fn new(mut config: ChannelConfig) -> Classifier {
        for h in &mut config.internal_hosts {
            *h = url::normalize_host(h.trim());
        }
        config.internal_hosts.retain(|h| !h.is_empty());
        Classifier { config }
    }

    /// The channel of a page view: its campaign data, `document.referrer` (may be empty) and
    /// the page URL.
    pub fn classify(&self, campaign: &Campaign, referrer: &str, page_url: &str) -> Channel {
        self.classify_with_rule(campaign, referrer, page_url).0
    }

    /// Like [`Classifier::classify`], also saying which rule matched: its index in the
    /// custom rules followed by the preset's table ([`preset_rules`]; `None`: no rule,
    /// Unassigned).
    pub fn classify_with_rule(&self, campaign: &Campaign, referrer: &str, page_url: &str) -> (Channel, Option<usize>) {
        let facts = Facts::new(campaign, referrer, page_url, &self.config.internal_hosts);
        let defaults: &[Rule] = if self.config.replace_defaults { &[] } else { DEFAULT_RULES };
        // Without the `channels` feature (the small core) `EXTENDED_RULES` is left out.
        let extended = cfg!(feature = "channels") && self.config.preset == Preset::Extended && !self.config.replace_defaults;
        let extra: &[(u8, Rule)] = if extended { EXTENDED_RULES } else { &[] };
        let mut i = 0;
        let mut hit = |r: &Rule| {
            i += 1;
            r.when.iter().all(|c| c.holds(&facts, campaign))
        };
        for r in &self.config.rules {
            if hit(r) {
                return (r.channel, Some(i - 1));
            }
        }
        // `preset_rules`, written out.
        for row in 0..=defaults.len() {
            for r in extra.iter().filter(|(at, _)| usize::from(*at) == row).map(|(_, r)| r).chain(defaults.get(row)) {
                if hit(r) {
                    return (r.channel, Some(i - 1));
                }
            }
        }
        (Channel::Unassigned, None)
    }
}

/// The rows of `table` with each `(i, rule)` of `extra` inserted before row `i` (after the
/// last row when `i` is the table's length): the order [`Classifier::classify_with_rule`]
/// tries them in.
#[cfg(test)]
pub fn preset_rules<'a>(table: &'a [Rule], extra: &'a [(u8, Rule)]) -> impl Iterator<Item = &'a Rule> + 'a {
    (0..=table.len()).flat_map(move |i| extra.iter().filter(move |(at, _)| usize::from(*at) == i).map(|(_, r)| r).chain(table.get(i)))
}

/// `t!("a|b")` / `t!(LIST)`: static terms.
macro_rules! t {
    ($list:expr) => {
        Terms::Static($list)
    };
}

/// `rule!(Channel: cond, cond)`: a row of the default table.
macro_rules! rule {
    ($channel:ident: $($cond:expr),+ $(,)?) => {
        Rule { channel: Channel::$channel, when: Cow::Borrowed(&[$($cond),+]) }
    };
}

/// `utm_medium` values that mean paid (GA4: `.*cp.*|ppc|retargeting|paid.*`).
pub const PAID_MEDIUMS: &str = "*cp*|ppc|retargeting|paid*";

/// GA4's source categories (its downloadable list, a source per line, `x~` for both `x` and
/// `x.com`): `SOURCE_CATEGORY_SEARCH`.
pub const GA4_SEARCH: &str = include_str!("channel/ga4/search.txt");
/// `SOURCE_CATEGORY_SOCIAL`.
pub const GA4_SOCIAL: &str = include_str!("channel/ga4/social.txt");
/// `SOURCE_CATEGORY_VIDEO`.
pub const GA4_VIDEO: &str = include_str!("channel/ga4/video.txt");
/// `SOURCE_CATEGORY_SHOPPING`.
pub const GA4_SHOPPING: &str = include_str!("channel/ga4/shopping.txt");

/// Search engines (site terms): GA4 turns a referral from a search engine into
/// `source=<engine>, medium=organic`; its engine list is not published, this is ours.
pub const SEARCH_SITES: &str = "google|bing|yahoo|duckduckgo|baidu|yandex|ya.ru|ecosia|qwant|naver|seznam|ask|aol|startpage|\
    search.brave.com|sogou|so.com|daum|kagi|mojeek|msn|search.yahoo.co.jp|yahoo.co.jp";

/// Social networks and messengers (site terms; extended preset). YouTube is under
/// [`VIDEO_SITES`].
pub const SOCIAL_SITES: &str = "facebook|fb|fb.me|messenger|instagram|ig|t.co|twitter|x|linkedin|lnkd.in|pinterest|pin.it|\
    reddit|tiktok|snapchat|tumblr|threads.net|threads|bsky.app|bluesky|mastodon.social|whatsapp|\
    wa.me|telegram|t.me|discord|vk|weibo|quora|news.ycombinator.com|line.me|xing|nextdoor|wechat";

/// Video platforms (site terms; extended preset).
pub const VIDEO_SITES: &str = "youtube|youtu.be|vimeo|twitch|dailymotion|wistia|rumble|bilibili";

/// Audio and podcast platforms (site terms; extended preset).
pub const AUDIO_SITES: &str = "spotify|spotify.link|podcasts.apple.com|music.apple.com|podcasts.google.com|soundcloud|deezer|\
    pandora|iheart|audible|tidal|pocketcasts";

/// Web mail hosts (site terms; extended preset).
pub const WEBMAIL_SITES: &str = "mail.google.com|outlook.live.com|outlook.office.com|outlook.office365.com|mail.yahoo.com|\
    mail.aol.com|mail.proton.me|mail.yandex.ru|e.mail.ru|mail.zoho.com|mail.gmx.net|mail.qq.com";

/// The default table (GA4's default channel group), first match wins. GA4's Paid Shopping
/// is `paid_other` and its Organic Shopping `referral` on our wire (docs/channels.md).
pub static DEFAULT_RULES: &[Rule] = &[
    // GA4 Cross-network: campaign name contains "cross-network".
    rule!(CrossNetwork: Cond::Campaign(t!("*cross-network*"))),
    // GA4 reads Google's click ids (auto-tagging: google / cpc; DV360 and CM360: display).
    rule!(PaidSearch: Cond::ClickId(t!("gclid|gbraid|wbraid"))),
    rule!(Display: Cond::ClickId(t!("dclid"))),
    // Ours: a same-site referrer continues the visit.
    rule!(Internal: Cond::SameSiteReferrer, Cond::NoUtm),
    // GA4 Direct: (direct) / (none).
    rule!(Direct: Cond::NoReferrer, Cond::NoUtm),
    // GA4 Paid Shopping, Paid Search, Paid Social, Paid Video, Display, Paid Other.
    rule!(PaidOther: Cond::SourceIn(Terms::Lines(GA4_SHOPPING)), Cond::Medium(t!(PAID_MEDIUMS))),
    rule!(PaidOther: Cond::ShoppingCampaign, Cond::Medium(t!(PAID_MEDIUMS))),
    rule!(PaidSearch: Cond::SourceIn(Terms::Lines(GA4_SEARCH)), Cond::Medium(t!(PAID_MEDIUMS))),
    rule!(PaidSocial: Cond::SourceIn(Terms::Lines(GA4_SOCIAL)), Cond::Medium(t!(PAID_MEDIUMS))),
    rule!(PaidVideo: Cond::SourceIn(Terms::Lines(GA4_VIDEO)), Cond::Medium(t!(PAID_MEDIUMS))),
    rule!(Display: Cond::Medium(t!("display|banner|expandable|interstitial|cpm"))),
    rule!(PaidOther: Cond::Medium(t!(PAID_MEDIUMS))),
    // GA4 Organic Shopping, Organic Social, Organic Video, Organic Search.
    rule!(Referral: Cond::SourceIn(Terms::Lines(GA4_SHOPPING))),
    rule!(Referral: Cond::ShoppingCampaign),
    rule!(OrganicSocial: Cond::SourceIn(Terms::Lines(GA4_SOCIAL))),
    rule!(OrganicSocial: Cond::Medium(t!("social|social-network|social-media|sm|social network|social media"))),
    rule!(Video: Cond::SourceIn(Terms::Lines(GA4_VIDEO))),
    rule!(Video: Cond::Medium(t!("*video*"))),
    rule!(OrganicSearch: Cond::SourceIn(Terms::Lines(GA4_SEARCH))),
    rule!(OrganicSearch: Cond::Medium(t!("organic"))),
    rule!(OrganicSearch: Cond::ReferrerSite(t!(SEARCH_SITES)), Cond::NoUtm),
    // GA4 Referral, Email, Affiliates, Audio, SMS, Mobile Push Notifications.
    rule!(Referral: Cond::Medium(t!("referral|app|link"))),
    rule!(Email: Cond::SourceOrMedium(t!("email|e-mail|e_mail|e mail"))),
    rule!(Affiliate: Cond::Medium(t!("affiliate"))),
    rule!(Audio: Cond::Medium(t!("audio"))),
    rule!(Sms: Cond::SourceOrMedium(t!("sms"))),
    rule!(MobilePush: Cond::Medium(t!("*push|*mobile*|*notification*"))),
    rule!(MobilePush: Cond::Source(t!("firebase"))),
    // Ours: QR codes, print and other offline mediums (utm_* decides before the referrer);
    // app referrers (no web host for GA4's source lists).
    rule!(Offline: Cond::Medium(t!("qr|qrcode|qr-code|qr_code|print|offline|pos|flyer|poster|billboard|ooh|direct_mail|direct-mail|\
        directmail|event"))),
    rule!(Email: Cond::App(t!("com.google.android.gm|com.microsoft.office.outlook|com.yahoo.mobile.client.android.mail|\
        com.samsung.android.email.provider|ch.protonmail.android|com.fsck.k9|me.bluemail.mail"))),
    rule!(Sms: Cond::App(t!("com.google.android.apps.messaging|com.samsung.android.messaging|com.android.mms"))),
    rule!(OrganicSearch: Cond::App(t!("com.google.android.googlequicksearchbox|com.microsoft.bing|com.duckduckgo.mobile.android|\
        ru.yandex.searchplugin|com.baidu.searchbox|com.ecosia.android"))),
    rule!(Video: Cond::App(t!("com.google.android.youtube|tv.twitch.android.app|com.vimeo.android.videoapp"))),
    rule!(Audio: Cond::App(t!("com.spotify.music|com.google.android.apps.podcasts|au.com.shiftyjelly.pocketcasts"))),
    rule!(OrganicSocial: Cond::App(t!("com.facebook.|com.instagram.android|com.twitter.android|com.linkedin.android|com.pinterest|\
        com.reddit.frontpage|com.zhiliaoapp.musically|com.ss.android.ugc.trill|com.snapchat.android|\
        org.telegram.messenger|com.whatsapp|jp.naver.line.android|com.discord|org.joinmastodon.android"))),
    // GA4 Referral: any other referrer is source <host> / medium referral.
    rule!(Referral: Cond::CrossSiteReferrer, Cond::NoUtm),
];

/// `x!(before_row, Channel: cond, …)`: a heuristic of the extended preset, inserted before
/// row `before_row` of [`DEFAULT_RULES`].
macro_rules! x {
    ($at:expr, $channel:ident: $($cond:expr),+ $(,)?) => {
        ($at, rule!($channel: $($cond),+))
    };
}

/// The extended preset (`channelPreset: "omnitrail-extended"`): heuristics GA4 does not have,
/// each inserted next to the GA4 rule it extends so that it keeps that rule's precedence.
/// Click ids other than Google's decide only on URLs without `utm_*`.
pub static EXTENDED_RULES: &[(u8, Rule)] = &[
    x!(1, CrossNetwork: Cond::Campaign(t!("*cross_network*"))),
    x!(1, CrossNetwork: Cond::Medium(t!("cross-network|cross_network|crossnetwork"))),
    x!(3, PaidSearch: Cond::ClickId(t!("gclsrc|msclkid|yclid")), Cond::NoUtm),
    x!(3, PaidSocial: Cond::ClickId(t!("ttclid|twclid|li_fat_id|epik|rdt_cid|sccid")), Cond::NoUtm),
    x!(3, Affiliate: Cond::ClickId(t!("irclid")), Cond::NoUtm),
    x!(3, Email: Cond::ClickId(t!("_kx|mc_cid")), Cond::NoUtm),
    x!(4, OrganicSocial: Cond::ClickId(t!("fbclid")), Cond::NoReferrer, Cond::NoUtm),
    x!(7, PaidSearch: Cond::Medium(t!("paid_search|paid-search|paidsearch|search_paid|sem|sea"))),
    x!(7, PaidSocial: Cond::Medium(t!("paid_social|paid-social|paidsocial|social_paid|social-paid|social_cpc|social-cpc"))),
    x!(7, PaidVideo: Cond::Medium(t!("paid_video|paid-video|paidvideo|cpv"))),
    x!(7, PaidSearch: Cond::SourceSite(t!(SEARCH_SITES)), Cond::Medium(t!(PAID_MEDIUMS))),
    x!(7, PaidVideo: Cond::SourceSite(t!(VIDEO_SITES)), Cond::Medium(t!(PAID_MEDIUMS))),
    x!(7, PaidSocial: Cond::SourceSite(t!(SOCIAL_SITES)), Cond::Medium(t!(PAID_MEDIUMS))),
    x!(10, Display: Cond::Medium(t!("programmatic"))),
    x!(12, Email: Cond::ReferrerSite(t!(WEBMAIL_SITES))),
    x!(14, OrganicSocial: Cond::SourceSite(t!(SOCIAL_SITES))),
    x!(15, OrganicSocial: Cond::Medium(t!("social_network|social_media"))),
    x!(16, Video: Cond::SourceSite(t!(VIDEO_SITES))),
    x!(18, Audio: Cond::SourceSite(t!(AUDIO_SITES))),
    x!(18, OrganicSearch: Cond::SourceSite(t!(SEARCH_SITES))),
    x!(19, OrganicSearch: Cond::Medium(t!("seo"))),
    x!(22, Email: Cond::SourceOrMedium(t!("*newsletter*"))),
    x!(23, Affiliate: Cond::Medium(t!("affiliates|partner|partners"))),
    x!(24, Audio: Cond::Medium(t!("podcast|radio"))),
    x!(25, Sms: Cond::SourceOrMedium(t!("mms"))),
    x!(26, MobilePush: Cond::SourceOrMedium(t!("*push|push*|*notification*|onesignal"))),
    x!(35, OrganicSocial: Cond::ClickId(t!("fbclid")), Cond::NoUtm),
];

#[cfg(test)]
mod tests;
