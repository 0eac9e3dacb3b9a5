use super::*;

const PAGE: &str = "https://shop.example.com/landing";

fn classify(landing: &str, referrer: &str) -> (Channel, Option<usize>) {
    Classifier::default().classify_with_rule(&Campaign::from_url(landing), referrer, landing)
}

fn at(query: &str) -> String {
    [PAGE, query].concat()
}

/// `(row of DEFAULT_RULES expected to match, channel, landing query, referrer)`.
type Cases = &'static [(usize, Channel, &'static str, &'static str)];

fn check(cases: Cases) {
    for &(row, channel, query, referrer) in cases {
        let landing = at(query);
        assert_eq!(classify(&landing, referrer), (channel, Some(row)), "{landing} from {referrer:?}");
        assert_eq!(DEFAULT_RULES.get(row).map(|r| r.channel), Some(channel), "row {row}");
    }
}

/// The GA4 default channel group rule (or our own addition) each row of DEFAULT_RULES
/// implements, for docs/channels.md. GA4's names; ours are the rows' channels.
const GA4_RULE: [&str; 36] = [
    "Cross-network: campaign name contains `cross-network`",
    "Paid Search: Google Ads auto-tagging (`gclid`, `gbraid`, `wbraid`) is `google / cpc`",
    "Display: Display & Video 360 / Campaign Manager 360 (`dclid`)",
    "— ours (Internal): GA4 ignores self-referrals",
    "Direct: source `(direct)`, medium `(none)`",
    "Paid Shopping: shopping source and paid medium",
    "Paid Shopping: shopping campaign and paid medium",
    "Paid Search: search source and paid medium",
    "Paid Social: social source and paid medium",
    "Paid Video: video source and paid medium",
    "Display: medium `display`, `banner`, `expandable`, `interstitial`, `cpm`",
    "Paid Other: paid medium",
    "Organic Shopping: shopping source",
    "Organic Shopping: shopping campaign",
    "Organic Social: social source",
    "Organic Social: social medium",
    "Organic Video: video source",
    "Organic Video: medium contains `video`",
    "Organic Search: search source",
    "Organic Search: medium `organic`",
    "Organic Search: a search engine's referral is `<engine> / organic`",
    "Referral: medium `referral`, `app`, `link`",
    "Email: source or medium `email`, `e-mail`, `e_mail`, `e mail`",
    "Affiliates: medium `affiliate`",
    "Audio: medium `audio`",
    "SMS: source or medium `sms`",
    "Mobile Push Notifications: medium ends with `push`, contains `mobile` or `notification`",
    "Mobile Push Notifications: source `firebase`",
    "— ours (QR/Offline): offline medium",
    "— ours: mail app referrer",
    "— ours: messaging app referrer",
    "— ours: search app referrer",
    "— ours: video app referrer",
    "— ours: audio app referrer",
    "— ours: social app referrer",
    "Referral: any other site's referral is `<host> / referral`",
];

// GA4 Direct: source "(direct)" and medium "(none)": no utm_* and no referrer. Click ids GA4
// does not read (fbclid, msclkid, …) do not make a visit less direct.
const GA4_DIRECT: Cases = &[
    (4, Channel::Direct, "", ""),
    (4, Channel::Direct, "?q=shoes", "about:blank"),
    (4, Channel::Direct, "?fbclid=IwAR", ""),
    (4, Channel::Direct, "?msclkid=abc&ttclid=x", ""),
];
#[test]
fn ga4_direct_no_source_no_referrer() {
    check(GA4_DIRECT);
}

// GA4 Cross-network: campaign name contains "cross-network" (first, whatever the medium).
const GA4_CROSS_NETWORK: Cases = &[
    (0, Channel::CrossNetwork, "?utm_campaign=PMax+Cross-Network+Q3&utm_source=google&utm_medium=cpc", ""),
    (0, Channel::CrossNetwork, "?utm_campaign=cross-network&utm_medium=email", ""),
    (0, Channel::CrossNetwork, "?utm_campaign=x-cross-network&gclid=1", ""),
];
#[test]
fn ga4_cross_network_campaign_name_contains_cross_network() {
    check(GA4_CROSS_NETWORK);
}

// GA4 and Google Ads auto-tagging: a gclid (gbraid, wbraid) is google / cpc, and wins over
// manual utm_* tags; dclid is Display & Video 360 / Campaign Manager 360 display traffic.
const GA4_GOOGLE_CLICK_IDS: Cases = &[
    (1, Channel::PaidSearch, "?gclid=Cj0KCQ", ""),
    (1, Channel::PaidSearch, "?gbraid=0AAAA&utm_campaign=spring", "https://www.google.com/"),
    (1, Channel::PaidSearch, "?wbraid=x", "android-app://com.google.android.googlequicksearchbox/"),
    (1, Channel::PaidSearch, "?utm_source=newsletter&utm_medium=email&gclid=abc", ""),
    (1, Channel::PaidSearch, "?gclid=1", "https://shop.example.com/cart"),
    (2, Channel::Display, "?dclid=abc", ""),
];
#[test]
fn ga4_google_ads_auto_tagging_gclid_is_paid_search() {
    check(GA4_GOOGLE_CLICK_IDS);
}

// GA4 Paid Shopping: (shopping source OR shopping campaign) AND paid medium → paid_other.
const GA4_PAID_SHOPPING: Cases = &[
    (5, Channel::PaidOther, "?utm_source=amazon&utm_medium=cpc", ""),
    (5, Channel::PaidOther, "?utm_source=IGShopping&utm_medium=paid", ""),
    (5, Channel::PaidOther, "?utm_source=google+shopping&utm_medium=ppc", ""),
    (6, Channel::PaidOther, "?utm_source=google&utm_medium=cpc&utm_campaign=Shopping_Q4", ""),
    (6, Channel::PaidOther, "?utm_source=facebook&utm_medium=cpc&utm_campaign=summer_shop", ""),
    (6, Channel::PaidOther, "?utm_source=bing&utm_medium=cpc&utm_campaign=eshop", ""),
];
#[test]
fn ga4_paid_shopping_before_paid_search() {
    check(GA4_PAID_SHOPPING);
    // "workshop" is not a shopping campaign (GA4's `([^a-df-z]|^)shop`).
    assert_eq!(classify(&at("?utm_source=google&utm_medium=cpc&utm_campaign=workshop"), "").0, Channel::PaidSearch);
}

// GA4 Paid Search: search source AND medium `.*cp.*|ppc|retargeting|paid.*`.
const GA4_PAID_SEARCH: Cases = &[
    (7, Channel::PaidSearch, "?utm_source=google&utm_medium=cpc", ""),
    (7, Channel::PaidSearch, "?utm_source=bing&utm_medium=ppc", "https://www.bing.com/"),
    (7, Channel::PaidSearch, "?utm_source=google&utm_medium=cpm", ""),
    (7, Channel::PaidSearch, "?utm_source=yahoo&utm_medium=retargeting", ""),
    (7, Channel::PaidSearch, "?utm_source=Baidu&utm_medium=cpc", ""),
];
#[test]
fn ga4_paid_search_medium_cpc_from_search_source() {
    check(GA4_PAID_SEARCH);
}

// GA4 Paid Social: social source AND paid medium — before Display, so a `cpm` or `cpc`
// medium from a social site is Paid Social, not Display or Paid Other.
const GA4_PAID_SOCIAL: Cases = &[
    (8, Channel::PaidSocial, "?utm_source=facebook&utm_medium=paid&fbclid=abc", "https://l.facebook.com/"),
    (8, Channel::PaidSocial, "?utm_source=ig&utm_medium=cpc", ""),
    (8, Channel::PaidSocial, "?utm_source=linkedin&utm_medium=retargeting", ""),
    (8, Channel::PaidSocial, "?utm_source=tiktok&utm_medium=cpm", ""),
    (8, Channel::PaidSocial, "?utm_source=reddit.com&utm_medium=paid_social", ""),
];
#[test]
fn ga4_paid_social_cpc_from_social_source_is_not_display() {
    check(GA4_PAID_SOCIAL);
}

// GA4 Paid Video: video source AND paid medium.
const GA4_PAID_VIDEO: Cases = &[
    (9, Channel::PaidVideo, "?utm_source=youtube.com&utm_medium=paid", ""),
    (9, Channel::PaidVideo, "?utm_source=youtube&utm_medium=cpv", ""),
    (9, Channel::PaidVideo, "?utm_source=vimeo&utm_medium=cpm", ""),
];
#[test]
fn ga4_paid_video_paid_medium_from_video_source() {
    check(GA4_PAID_VIDEO);
}

// GA4 Display: medium one of display, banner, expandable, interstitial, cpm (after the paid
// rules with a known source: `cpm` also matches `.*cp.*`).
const GA4_DISPLAY: Cases = &[
    (10, Channel::Display, "?utm_medium=banner&utm_source=adnetwork", ""),
    (10, Channel::Display, "?utm_medium=display&utm_source=google", ""),
    (10, Channel::Display, "?utm_medium=cpm&utm_source=adnetwork", ""),
    (10, Channel::Display, "?utm_medium=Interstitial", ""),
    (10, Channel::Display, "?utm_medium=expandable&utm_source=facebook", ""),
];
#[test]
fn ga4_display_medium() {
    check(GA4_DISPLAY);
}

// GA4 Paid Other: a paid medium from any other source.
const GA4_PAID_OTHER: Cases = &[
    (11, Channel::PaidOther, "?utm_source=adroll&utm_medium=retargeting", ""),
    (11, Channel::PaidOther, "?utm_medium=cpc", ""),
    (11, Channel::PaidOther, "?utm_medium=paid_search&utm_source=newsletter", ""),
    (11, Channel::PaidOther, "?utm_medium=paid-social&utm_source=partner_app", ""),
    (11, Channel::PaidOther, "?utm_source=duckduckgo.com&utm_medium=cpc", ""),
];
#[test]
fn ga4_paid_other_paid_medium_from_other_source() {
    check(GA4_PAID_OTHER);
}

// GA4 Organic Shopping: shopping source OR shopping campaign → referral.
const GA4_ORGANIC_SHOPPING: Cases = &[
    (12, Channel::Referral, "", "https://www.amazon.com/dp/1"),
    (12, Channel::Referral, "?utm_source=etsy", ""),
    (13, Channel::Referral, "?utm_source=newsletter&utm_medium=email&utm_campaign=shop-the-look", ""),
    (13, Channel::Referral, "?utm_source=instagram&utm_campaign=Holiday+Shopping", ""),
];
#[test]
fn ga4_organic_shopping_source_or_campaign() {
    check(GA4_ORGANIC_SHOPPING);
}

// GA4 Organic Social: social source (its list, exactly) OR a social medium.
const GA4_ORGANIC_SOCIAL: Cases = &[
    (14, Channel::OrganicSocial, "", "https://t.co/abc"),
    (14, Channel::OrganicSocial, "", "https://lm.facebook.com/l.php?u=x"),
    (14, Channel::OrganicSocial, "", "https://www.instagram.com/"),
    (14, Channel::OrganicSocial, "", "https://www.linkedin.com/"),
    (14, Channel::OrganicSocial, "", "https://lnkd.in/abc"),
    (14, Channel::OrganicSocial, "", "https://www.reddit.com/r/x"),
    (14, Channel::OrganicSocial, "", "https://www.tiktok.com/"),
    (14, Channel::OrganicSocial, "?fbclid=IwAR", "https://m.facebook.com/"),
    (14, Channel::OrganicSocial, "?utm_source=twitter", ""),
    (14, Channel::OrganicSocial, "?utm_source=Facebook&utm_medium=email", ""),
    (14, Channel::OrganicSocial, "", "https://sites.google.com/view/x"),
    (14, Channel::OrganicSocial, "?utm_source=google%2B", ""),
    (15, Channel::OrganicSocial, "?utm_medium=social&utm_source=ourbrand", ""),
    (15, Channel::OrganicSocial, "?utm_medium=social+media", ""),
    (15, Channel::OrganicSocial, "?utm_medium=sm", ""),
];
#[test]
fn ga4_organic_social_source_or_medium() {
    check(GA4_ORGANIC_SOCIAL);
}

// GA4 Organic Video: video source OR medium matching `.*video.*`.
const GA4_ORGANIC_VIDEO: Cases = &[
    (16, Channel::Video, "", "https://www.youtube.com/"),
    (16, Channel::Video, "", "https://m.youtube.com/watch?v=1"),
    (16, Channel::Video, "?utm_source=vimeo", ""),
    (16, Channel::Video, "", "https://www.twitch.tv/x"),
    (17, Channel::Video, "?utm_medium=video&utm_source=somewhere", ""),
    (17, Channel::Video, "?utm_medium=instream-video", ""),
];
#[test]
fn ga4_organic_video_source_or_medium() {
    check(GA4_ORGANIC_VIDEO);
}

// GA4 Organic Search: search source OR medium "organic"; a search engine's referral is
// <engine> / organic.
const GA4_ORGANIC_SEARCH: Cases = &[
    (18, Channel::OrganicSearch, "", "https://www.google.com/"),
    (18, Channel::OrganicSearch, "", "https://news.google.com/"),
    (18, Channel::OrganicSearch, "", "https://www.qwant.com/"),
    (18, Channel::OrganicSearch, "", "https://www.ecosia.org/"),
    (18, Channel::OrganicSearch, "", "https://www.seznam.cz/"),
    (18, Channel::OrganicSearch, "", "https://yandex.ru/search/?text=x"),
    (18, Channel::OrganicSearch, "", "https://mail.google.com/mail/u/0/"),
    (18, Channel::OrganicSearch, "?utm_source=google", ""),
    (18, Channel::OrganicSearch, "?utm_source=bing&utm_medium=qr", ""),
    (19, Channel::OrganicSearch, "?utm_medium=organic&utm_source=kelkoo", ""),
    (20, Channel::OrganicSearch, "", "https://www.google.co.uk/"),
    (20, Channel::OrganicSearch, "", "https://duckduckgo.com/"),
    (20, Channel::OrganicSearch, "", "https://search.yahoo.com/search?p=x"),
    (20, Channel::OrganicSearch, "", "https://search.naver.com/"),
    (20, Channel::OrganicSearch, "", "https://www.baidu.com/link?url=x"),
    (20, Channel::OrganicSearch, "", "https://search.brave.com/"),
    (20, Channel::OrganicSearch, "?ttclid=1", "https://www.bing.com/"),
];
#[test]
fn ga4_organic_search_source_or_medium_organic() {
    check(GA4_ORGANIC_SEARCH);
}

// GA4 Referral: medium referral, app or link; and every other site's referral.
const GA4_REFERRAL: Cases = &[
    (21, Channel::Referral, "?utm_medium=referral&utm_source=partner", ""),
    (21, Channel::Referral, "?utm_source=Weekly-Newsletter&utm_medium=link", ""),
    (21, Channel::Referral, "?utm_source=email&utm_medium=app", ""),
    (35, Channel::Referral, "", "https://blog.other.org/post"),
    (35, Channel::Referral, "", "android-app://com.example.someapp/"),
    (35, Channel::Referral, "", "https://other.co.uk/"),
    (35, Channel::Referral, "", "https://x.com/someone"),
    (35, Channel::Referral, "", "https://youtu.be/abc"),
    (35, Channel::Referral, "", "https://open.spotify.com/episode/1"),
    (35, Channel::Referral, "", "https://outlook.live.com/mail/0/"),
    (35, Channel::Referral, "?fbclid=1", "https://partner-blog.net/"),
];
#[test]
fn ga4_referral_medium_or_other_site() {
    check(GA4_REFERRAL);
}

// GA4 Email: source or medium email, e-mail, e_mail or e mail (exactly).
const GA4_EMAIL: Cases = &[
    (22, Channel::Email, "?utm_medium=email&utm_source=crm", ""),
    (22, Channel::Email, "?utm_source=e-mail&utm_medium=weekly", ""),
    (22, Channel::Email, "?utm_source=E_Mail", ""),
    (22, Channel::Email, "?utm_medium=e+mail", ""),
];
#[test]
fn ga4_email_source_or_medium_e_mail() {
    check(GA4_EMAIL);
}

// GA4 Affiliates: medium affiliate.
const GA4_AFFILIATES: Cases = &[(23, Channel::Affiliate, "?utm_medium=affiliate&utm_source=awin", "https://www.awin1.com/")];
#[test]
fn ga4_affiliates_medium_affiliate() {
    check(GA4_AFFILIATES);
}

// GA4 Audio: medium audio.
const GA4_AUDIO: Cases = &[(24, Channel::Audio, "?utm_medium=audio&utm_source=the_show", "")];
#[test]
fn ga4_audio_medium_audio() {
    check(GA4_AUDIO);
}

// GA4 SMS: source or medium sms.
const GA4_SMS: Cases =
    &[(25, Channel::Sms, "?utm_medium=sms&utm_source=twilio", ""), (25, Channel::Sms, "?utm_source=SMS&utm_medium=blast", "")];
#[test]
fn ga4_sms_source_or_medium() {
    check(GA4_SMS);
}

// GA4 Mobile Push Notifications: medium ends with "push", or contains "mobile" or
// "notification"; or source firebase.
const GA4_MOBILE_PUSH: Cases = &[
    (26, Channel::MobilePush, "?utm_medium=web_push&utm_source=site", ""),
    (26, Channel::MobilePush, "?utm_medium=mobile&utm_source=app", ""),
    (26, Channel::MobilePush, "?utm_medium=in-app-notification", ""),
    (26, Channel::MobilePush, "?utm_medium=mobile_banner", ""),
    (27, Channel::MobilePush, "?utm_source=firebase", ""),
];
#[test]
fn ga4_mobile_push_notifications_push_mobile_notification_firebase() {
    check(GA4_MOBILE_PUSH);
    // "push" must end the medium; a push source is not enough.
    assert_eq!(classify(&at("?utm_medium=push_campaign"), "").0, Channel::Unassigned);
    assert_eq!(classify(&at("?utm_source=web_push"), "").0, Channel::Unassigned);
}

// Ours, where GA4 has no answer: Internal (a same-site referrer).
const OURS_INTERNAL: Cases = &[
    (3, Channel::Internal, "", "https://shop.example.com/cart"),
    (3, Channel::Internal, "", "https://www.example.com/"),
    (3, Channel::Internal, "?ref=nav", "https://blog.example.com/post?x=1"),
    (3, Channel::Internal, "?fbclid=1", "https://blog.example.com/post?x=1"),
];
#[test]
fn ours_internal_same_site_referrer() {
    check(OURS_INTERNAL);
}

// Ours: app referrers.
const OURS_APPS: Cases = &[
    (29, Channel::Email, "", "android-app://com.google.android.gm/"),
    (29, Channel::Email, "", "android-app://com.microsoft.office.outlook"),
    (30, Channel::Sms, "", "android-app://com.google.android.apps.messaging/"),
    (31, Channel::OrganicSearch, "", "android-app://com.google.android.googlequicksearchbox/"),
    (31, Channel::OrganicSearch, "", "android-app://com.google.android.googlequicksearchbox/https/www.google.com"),
    (32, Channel::Video, "", "android-app://com.google.android.youtube/"),
    (33, Channel::Audio, "", "android-app://com.spotify.music/"),
    (34, Channel::OrganicSocial, "", "android-app://com.facebook.katana/"),
    (34, Channel::OrganicSocial, "", "android-app://com.facebook.orca/"),
    (34, Channel::OrganicSocial, "", "android-app://com.linkedin.android/"),
];
#[test]
fn ours_app_referrers() {
    check(OURS_APPS);
}

// Ours: QR codes, print and other offline media (before the app referrers: utm_* first).
const OURS_OFFLINE: Cases = &[
    (28, Channel::Offline, "?utm_medium=qr&utm_source=store_poster", ""),
    (28, Channel::Offline, "?utm_medium=Print&utm_source=magazine", ""),
    (28, Channel::Offline, "?utm_medium=pos", ""),
    (28, Channel::Offline, "?utm_medium=qr", "android-app://com.google.android.gm/"),
];
#[test]
fn ours_qr_offline_medium() {
    check(OURS_OFFLINE);
}

const ALL: &[Cases] = &[
    GA4_DIRECT,
    GA4_CROSS_NETWORK,
    GA4_GOOGLE_CLICK_IDS,
    GA4_PAID_SHOPPING,
    GA4_PAID_SEARCH,
    GA4_PAID_SOCIAL,
    GA4_PAID_VIDEO,
    GA4_DISPLAY,
    GA4_PAID_OTHER,
    GA4_ORGANIC_SHOPPING,
    GA4_ORGANIC_SOCIAL,
    GA4_ORGANIC_VIDEO,
    GA4_ORGANIC_SEARCH,
    GA4_REFERRAL,
    GA4_EMAIL,
    GA4_AFFILIATES,
    GA4_AUDIO,
    GA4_SMS,
    GA4_MOBILE_PUSH,
    OURS_INTERNAL,
    OURS_APPS,
    OURS_OFFLINE,
];

#[test]
fn every_default_row_has_a_case() {
    assert_eq!(GA4_RULE.len(), DEFAULT_RULES.len());
    for row in 0..DEFAULT_RULES.len() {
        assert!(ALL.iter().any(|cases| cases.iter().any(|c| c.0 == row)), "row {row} has no test case");
    }
}

#[test]
fn unassigned_when_nothing_matches() {
    for (query, referrer) in [
        ("?utm_source=foo", ""),
        ("?utm_medium=weird&utm_source=bar", "https://other.org/"),
        ("?utm_campaign=spring", ""),
        ("?utm_term=shoes&utm_content=a", "https://unknown.example.net/"),
        // GA4 has none of these heuristics (the extended preset does).
        ("?utm_medium=newsletter&utm_source=crm", ""),
        ("?utm_medium=podcast&utm_source=the_show", ""),
        ("?utm_medium=partner&utm_source=acme", ""),
        ("?utm_medium=mms", ""),
        ("?utm_medium=sem", ""),
        ("?utm_medium=seo&utm_source=kelkoo", ""),
    ] {
        assert_eq!(classify(&at(query), referrer), (Channel::Unassigned, None), "{query} {referrer}");
    }
}

fn classify_extended(landing: &str, referrer: &str) -> (Channel, Option<usize>) {
    let cl = Classifier::new(ChannelConfig { preset: Preset::Extended, ..ChannelConfig::default() });
    cl.classify_with_rule(&Campaign::from_url(landing), referrer, landing)
}

/// `(row of EXTENDED_RULES expected to match, channel, landing query, referrer)`: the
/// heuristics the default table had before it followed GA4, now opt-in.
#[cfg(feature = "channels")]
const EXTENDED_CASES: &[(usize, Channel, &str, &str)] = &[
    (0, Channel::CrossNetwork, "?utm_campaign=spring_cross_network", ""),
    (1, Channel::CrossNetwork, "?utm_medium=cross-network&utm_source=google", ""),
    (2, Channel::PaidSearch, "?msclkid=abc", "https://www.bing.com/"),
    (2, Channel::PaidSearch, "?yclid=1", ""),
    (3, Channel::PaidSocial, "?ttclid=abc", "https://www.tiktok.com/"),
    (3, Channel::PaidSocial, "?li_fat_id=abc", ""),
    (3, Channel::PaidSocial, "?epik=abc", "https://www.pinterest.com/"),
    (3, Channel::PaidSocial, "?twclid=1&rdt_cid=2&sccid=3", ""),
    (4, Channel::Affiliate, "?irclid=abc", "https://partner-blog.net/"),
    (5, Channel::Email, "?_kx=abc", ""),
    (5, Channel::Email, "?mc_cid=abc", ""),
    (6, Channel::OrganicSocial, "?fbclid=IwAR", ""),
    (7, Channel::PaidSearch, "?utm_medium=paid_search&utm_source=newsletter", ""),
    (7, Channel::PaidSearch, "?utm_medium=SEM", ""),
    (8, Channel::PaidSocial, "?utm_medium=paid-social&utm_source=partner_app", ""),
    (8, Channel::PaidSocial, "?utm_medium=%70aid%5Fsocial", ""),
    (9, Channel::PaidVideo, "?utm_medium=cpv&utm_source=somewhere", ""),
    (10, Channel::PaidSearch, "?utm_medium=cpc", "https://duckduckgo.com/"),
    (10, Channel::PaidSearch, "?utm_source=google.de&utm_medium=cpc", ""),
    (11, Channel::PaidVideo, "?utm_source=youtu.be&utm_medium=paid", ""),
    (12, Channel::PaidSocial, "?utm_source=x&utm_medium=cpc", ""),
    (13, Channel::Display, "?utm_medium=programmatic", ""),
    (14, Channel::Email, "", "https://mail.google.com/"),
    (14, Channel::Email, "", "https://outlook.live.com/mail/0/"),
    (14, Channel::Email, "?utm_campaign=june", "https://mail.yahoo.com/d/folders/1"),
    (15, Channel::OrganicSocial, "", "https://x.com/someone"),
    (15, Channel::OrganicSocial, "", "https://bsky.app/profile/x"),
    (15, Channel::OrganicSocial, "", "https://pin.it/abc"),
    (16, Channel::OrganicSocial, "?utm_medium=social_media", ""),
    (17, Channel::Video, "", "https://youtu.be/abc"),
    (17, Channel::Video, "", "https://rumble.com/v1"),
    (18, Channel::Audio, "", "https://open.spotify.com/episode/1"),
    (18, Channel::Audio, "", "https://podcasts.apple.com/us/podcast/x"),
    (19, Channel::OrganicSearch, "?utm_source=duckduckgo.com", ""),
    (20, Channel::OrganicSearch, "?utm_medium=seo&utm_source=kelkoo", ""),
    (21, Channel::Email, "?utm_source=Weekly-Newsletter&utm_medium=crm", ""),
    (21, Channel::Email, "?utm_medium=newsletter", ""),
    (22, Channel::Affiliate, "?utm_medium=partner&utm_source=acme", ""),
    (22, Channel::Affiliate, "?utm_medium=affiliates", ""),
    (23, Channel::Audio, "?utm_medium=podcast&utm_source=the_show", ""),
    (23, Channel::Audio, "?utm_medium=radio", ""),
    (24, Channel::Sms, "?utm_medium=mms", ""),
    (25, Channel::MobilePush, "?utm_source=onesignal", ""),
    (25, Channel::MobilePush, "?utm_medium=push_campaign", ""),
    (25, Channel::MobilePush, "?utm_source=web_push", ""),
    (26, Channel::OrganicSocial, "?fbclid=IwAR", "https://partner-blog.net/"),
];

#[test]
#[cfg(feature = "channels")]
fn extended_preset_heuristics() {
    let merged: Vec<&Rule> = preset_rules(DEFAULT_RULES, EXTENDED_RULES).collect();
    assert_eq!(merged.len(), DEFAULT_RULES.len() + EXTENDED_RULES.len());
    for &(row, channel, query, referrer) in EXTENDED_CASES {
        let landing = at(query);
        let (got, index) = classify_extended(&landing, referrer);
        assert_eq!(got, channel, "{landing} from {referrer:?}");
        let rule = index.and_then(|i| merged.get(i).copied());
        let want = EXTENDED_RULES.get(row).map(|(_, r)| r);
        assert!(
            rule.zip(want).is_some_and(|(a, b)| std::ptr::eq(a, b)),
            "{landing} from {referrer:?}: matched {index:?}, want extended row {row}"
        );
    }
    for row in 0..EXTENDED_RULES.len() {
        assert!(EXTENDED_CASES.iter().any(|c| c.0 == row), "extended row {row} has no test case");
    }
    // Inserted in order, within the table.
    assert!(EXTENDED_RULES.windows(2).all(|w| w[0].0 <= w[1].0));
    assert!(EXTENDED_RULES.iter().all(|(at, _)| usize::from(*at) <= DEFAULT_RULES.len()));
    // Without its extra rows the extended table is GA4's, in GA4's order.
    let ga4: Vec<&Rule> = merged.iter().copied().filter(|r| !EXTENDED_RULES.iter().any(|(_, x)| std::ptr::eq(*r, x))).collect();
    assert!(ga4.iter().zip(DEFAULT_RULES).all(|(a, b)| std::ptr::eq(*a, b)) && ga4.len() == DEFAULT_RULES.len());
}

/// The small core (no `channels` feature) has GA4's table only: the extended preset gives its
/// answers, custom rules still come first.
#[test]
#[cfg(not(feature = "channels"))]
fn without_the_channels_feature_the_extended_preset_is_ga4s_table() {
    let cases =
        ["?utm_medium=paid_social&utm_source=acme", "?utm_medium=seo", "?msclkid=1", "?utm_campaign=spring_cross_network", "?fbclid=1"];
    for query in cases {
        let landing = at(query);
        assert_eq!(classify_extended(&landing, ""), classify(&landing, ""), "{query}");
    }
    // `sem` is Paid Search in the extended preset only.
    assert_eq!(classify_extended(&at("?utm_medium=sem"), ""), (Channel::Unassigned, None));
}

#[test]
fn extended_preset_keeps_every_ga4_answer_its_heuristics_do_not_touch() {
    // Every GA4 case that no heuristic claims gives the same channel with the extended preset.
    let merged: Vec<&Rule> = preset_rules(DEFAULT_RULES, EXTENDED_RULES).collect();
    for cases in ALL {
        for &(_, channel, query, referrer) in cases.iter() {
            let landing = at(query);
            let (got, index) = classify_extended(&landing, referrer);
            let by_heuristic = index.and_then(|i| merged.get(i)).is_some_and(|r| EXTENDED_RULES.iter().any(|(_, x)| std::ptr::eq(*r, x)));
            if !by_heuristic {
                assert_eq!(got, channel, "{landing} from {referrer:?}");
            }
        }
    }
    // Custom rules still come first; replace_defaults drops the preset too.
    let cl = Classifier::new(ChannelConfig {
        rules: vec![Rule::new(Channel::Video, vec![Cond::Medium(Terms::owned(&["newsletter"]))])],
        preset: Preset::Extended,
        ..ChannelConfig::default()
    });
    assert_eq!(cl.classify_with_rule(&Campaign::from_url("/?utm_medium=newsletter"), "", PAGE), (Channel::Video, Some(0)));
    let only = Classifier::new(ChannelConfig { replace_defaults: true, preset: Preset::Extended, ..ChannelConfig::default() });
    assert_eq!(only.classify(&Campaign::from_url("/?utm_medium=newsletter"), "", PAGE), Channel::Unassigned);
    assert_eq!(Preset::from_name("ga4"), Some(Preset::Ga4));
    assert_eq!(Preset::from_name("omnitrail-extended"), Some(Preset::Extended));
    assert_eq!(Preset::from_name("GA4"), None);
    assert_eq!(Preset::default(), Preset::Ga4);
}

#[test]
fn listed_sources() {
    for (v, t, want) in [
        ("facebook", "facebook~", true),
        ("facebook.com", "facebook~", true),
        ("m.facebook.com", "facebook~", false),
        ("facebook.de", "facebook~", false),
        ("t.co", "t.co", true),
        ("a.t.co", "t.co", false),
        ("", "", false),
        ("", "x~", false),
        ("x", "", false),
        ("google+", "google+", true),
        ("google", "google+", false),
    ] {
        assert_eq!(listed(v, t), want, "{v} {t}");
    }
}

#[test]
fn shopping_campaigns() {
    for (c, want) in [
        ("shop", true),
        ("shopping", true),
        ("summer_shop", true),
        ("eshop", true),
        ("e-shop", true),
        ("9shop", true),
        ("workshop", false),
        ("bikeshop", true),
        ("xshopping", true),
        ("shoe", false),
        ("", false),
        ("shopshop", true),
        ("ashop", false),
        ("zshop", false),
        ("\u{e9}shop", true),
    ] {
        assert_eq!(shopping_campaign(c), want, "{c}");
    }
}

#[test]
fn odd_inputs() {
    let cases: &[(&str, &str, Channel)] = &[
        // Upper-case parameter names and values.
        ("https://shop.example.com/?UTM_SOURCE=Google&UTM_MEDIUM=CPC", "", Channel::PaidSearch),
        ("https://shop.example.com/?Utm_Medium=EMAIL", "", Channel::Email),
        ("https://shop.example.com/?GCLID=x", "", Channel::PaidSearch),
        // Encoded names and values, `+` as space.
        ("https://shop.example.com/?utm%5Fmedium=e%20mail", "", Channel::Email),
        ("https://shop.example.com/?utm_medium=e+mail", "", Channel::Email),
        ("https://shop.example.com/?utm_medium=%70aid%5Fsocial", "", Channel::PaidOther),
        ("https://shop.example.com/?utm_medium=%ZZ", "", Channel::Unassigned),
        // Missing / blank / garbage referrer.
        ("https://shop.example.com/", "   ", Channel::Direct),
        ("https://shop.example.com/", "not a url", Channel::Direct),
        ("https://shop.example.com/", "about:blank", Channel::Direct),
        // Same-site referrer: subdomains, www, case, port, trailing dot.
        ("https://shop.example.com/", "https://WWW.EXAMPLE.COM:443/x", Channel::Internal),
        ("https://shop.example.com/", "http://example.com./", Channel::Internal),
        ("https://example.com/", "https://checkout.example.com/done", Channel::Internal),
        ("http://localhost:3000/", "http://localhost:3000/a", Channel::Internal),
        // Same-site referrer with campaign data: the campaign decides.
        ("https://shop.example.com/?utm_medium=email", "https://shop.example.com/", Channel::Email),
        // Different registrable domains under a two-level suffix are not same-site.
        ("https://shop.example.co.uk/", "https://other.co.uk/", Channel::Referral),
        ("https://shop.example.co.uk/", "https://blog.example.co.uk/", Channel::Internal),
        // Hosts are matched by label, not substring.
        ("https://shop.example.com/", "https://notgoogle.com/", Channel::Referral),
        ("https://shop.example.com/", "https://google.evil.com/", Channel::Referral),
        ("https://shop.example.com/", "https://mytwitter.com/", Channel::Referral),
        ("https://shop.example.com/", "https://evil-t.co/", Channel::Referral),
        // App referrers, in any case, with or without a path.
        ("https://shop.example.com/", "ANDROID-APP://com.google.android.gm", Channel::Email),
        ("https://shop.example.com/", "android-app://com.instagram.android/", Channel::OrganicSocial),
        ("https://shop.example.com/", "ios-app://com.example.app/", Channel::Referral),
        ("https://shop.example.com/", "android-app://", Channel::Direct),
        // GA4 lists Gmail's web host as a search source; a google click id beats the
        // organic referrer.
        ("https://shop.example.com/", "https://mail.google.com/mail/u/0/", Channel::OrganicSearch),
        ("https://shop.example.com/?gclid=1", "https://www.google.de/", Channel::PaidSearch),
        // Page URL without host: nothing is same-site.
        ("/relative?x=1", "https://shop.example.com/", Channel::Referral),
        // Referrer with credentials and odd characters.
        ("https://shop.example.com/", "https://user:pw@www.google.com:8080/?q=%ZZ#x", Channel::OrganicSearch),
        ("https://shop.example.com/", "https://[2001:db8::1]/", Channel::Referral),
    ];
    for &(landing, referrer, want) in cases {
        let c = Campaign::from_url(landing);
        assert_eq!(Classifier::default().classify(&c, referrer, landing), want, "{landing} from {referrer:?}");
    }
}

#[test]
fn custom_rules_come_first() {
    let config = ChannelConfig {
        rules: vec![
            Rule::new(Channel::Affiliate, vec![Cond::ReferrerSite(Terms::owned(&["Partner-Blog.net"]))]),
            Rule::new(Channel::PaidSocial, vec![Cond::Source(Terms::owned(&["FB-*"])), Cond::Medium(Terms::owned(&["boost"]))]),
        ],
        ..ChannelConfig::default()
    };
    let cl = Classifier::new(config);
    let c = Campaign::default();
    assert_eq!(cl.classify_with_rule(&c, "https://www.partner-blog.net/a", PAGE), (Channel::Affiliate, Some(0)));
    let c = Campaign::from_url("/?utm_source=fb-page&utm_medium=Boost");
    assert_eq!(cl.classify_with_rule(&c, "", PAGE), (Channel::PaidSocial, Some(1)));
    // Defaults still apply after the custom rules, shifted by their count.
    let (ch, row) = cl.classify_with_rule(&Campaign::default(), "", PAGE);
    assert_eq!((ch, row), (Channel::Direct, Some(6)));

    let only = Classifier::new(ChannelConfig {
        rules: vec![Rule::new(Channel::Email, vec![Cond::Medium(Terms::owned(&["*mail*"]))])],
        replace_defaults: true,
        ..ChannelConfig::default()
    });
    assert_eq!(only.classify(&Campaign::from_url("/?utm_medium=mailing"), "", PAGE), Channel::Email);
    assert_eq!(only.classify(&Campaign::default(), "", PAGE), Channel::Unassigned);
    // An empty condition list always matches.
    let all = Classifier::new(ChannelConfig { rules: vec![Rule::new(Channel::Video, vec![])], ..ChannelConfig::default() });
    assert_eq!(all.classify(&Campaign::default(), "", PAGE), Channel::Video);
}

#[test]
fn conditions_parse_from_configuration() {
    assert_eq!(Cond::parse("medium", &["Boost", " Paid* "]), Some(Cond::Medium(Terms::Owned(vec!["boost".into(), "paid*".into()]))));
    assert_eq!(Cond::parse("noCampaign", &[] as &[&str]), Some(Cond::NoCampaign));
    assert_eq!(Cond::parse("crossSiteReferrer", &["ignored"]), Some(Cond::CrossSiteReferrer));
    assert_eq!(Cond::parse("app", &["com.example."]), Some(Cond::App(Terms::Owned(vec!["com.example.".into()]))));
    assert_eq!(Cond::parse("medium", &[] as &[&str]), None);
    assert_eq!(Cond::parse("medium", &["", "  "]), None);
    assert_eq!(Cond::parse("Medium", &["x"]), None);
    assert_eq!(Cond::parse("bogus", &["x"]), None);
    assert_eq!(Cond::parse("noUtm", &[] as &[&str]), Some(Cond::NoUtm));
    assert_eq!(Cond::parse("shoppingCampaign", &[] as &[&str]), Some(Cond::ShoppingCampaign));
    assert_eq!(Cond::parse("sourceIn", &["Pinterest.DE"]), Some(Cond::SourceIn(Terms::Owned(vec!["pinterest.de".into()]))));
    let keys = ["medium", "source", "sourceOrMedium", "campaign", "sourceSite", "sourceIn", "referrerSite", "app", "clickId"];
    for k in keys {
        assert!(Cond::parse(k, &["x"]).is_some(), "{k}");
    }
    // A configured rule, end to end.
    let rule = Rule::new(
        Channel::from_name("affiliate").unwrap_or(Channel::Unassigned),
        ["sourceSite", "crossSiteReferrer"].iter().filter_map(|k| Cond::parse(k, &["Coupons.example"])).collect(),
    );
    let cl = Classifier::new(ChannelConfig { rules: vec![rule], ..ChannelConfig::default() });
    assert_eq!(cl.classify(&Campaign::default(), "https://www.coupons.example/deal", PAGE), Channel::Affiliate);
}

#[test]
fn internal_hosts_extend_the_site() {
    let cl = Classifier::new(ChannelConfig {
        internal_hosts: vec!["WWW.PayPal.com".into(), "checkout.stripe.com".into(), " ".into()],
        ..ChannelConfig::default()
    });
    let none = Campaign::default();
    assert_eq!(cl.classify(&none, "https://www.paypal.com/checkoutnow", PAGE), Channel::Internal);
    assert_eq!(cl.classify(&none, "https://checkout.stripe.com/pay", PAGE), Channel::Internal);
    assert_eq!(cl.classify(&none, "https://dashboard.stripe.com/", PAGE), Channel::Referral);
    assert_eq!(Classifier::default().classify(&none, "https://www.paypal.com/", PAGE), Channel::Referral);
}

#[test]
fn static_terms_are_well_formed() {
    for r in DEFAULT_RULES.iter().chain(EXTENDED_RULES.iter().map(|(_, r)| r)) {
        for c in r.when.iter() {
            if let Cond::ClickId(Terms::Static(t)) = c {
                for id in t.split('|') {
                    assert!(crate::campaign::KEYS.iter().any(|k| k.1 == id), "unknown click id {id}");
                }
            }
            let terms = match c {
                Cond::ClickId(t)
                | Cond::Medium(t)
                | Cond::Source(t)
                | Cond::SourceOrMedium(t)
                | Cond::Campaign(t)
                | Cond::SourceSite(t)
                | Cond::SourceIn(t)
                | Cond::ReferrerSite(t)
                | Cond::App(t) => t,
                _ => continue,
            };
            if matches!(terms, Terms::Lines(_)) {
                continue; // checked below
            }
            assert!(terms.any(&|x| !x.is_empty()));
            assert!(!terms.any(&|x| x.is_empty() || x != x.trim() || x.to_ascii_lowercase() != x), "{terms:?}");
        }
    }
    // Every click id the campaign module captures is classified by some row: Google's by
    // GA4's table (the rest are Direct there), every other by the extended preset.
    let extended = Classifier::new(ChannelConfig { preset: Preset::Extended, ..ChannelConfig::default() });
    for (param, key) in crate::campaign::KEYS.iter().skip(crate::campaign::UTM_COUNT) {
        let c = Campaign::from_query(&[param, "=1"].concat());
        assert_ne!(Classifier::default().classify_with_rule(&c, "", PAGE).1, None, "{key}");
        if cfg!(feature = "channels") {
            assert_ne!(extended.classify(&c, "", PAGE), Channel::Direct, "{key}");
        }
    }
    // The GA4 source lists: lower-case, trimmed, no duplicates within or across lists, 819
    // sources once `x~` is expanded to `x` and `x.com` (`google+` is a source of its own).
    let mut all: Vec<String> = Vec::new();
    for list in [GA4_SEARCH, GA4_SOCIAL, GA4_VIDEO, GA4_SHOPPING] {
        assert!(list.ends_with('\n') && !list.contains("\n\n") && !list.contains('|'));
        for term in list.lines() {
            assert!(!term.is_empty() && term == term.trim() && term == term.to_ascii_lowercase(), "{term:?}");
            match term.strip_suffix('~') {
                Some(stem) => all.extend([stem.to_owned(), [stem, ".com"].concat()]),
                None => all.push(term.to_owned()),
            }
        }
    }
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n, "duplicate source in the GA4 lists");
    assert_eq!(n, 819);
}

#[test]
fn patterns_and_sites() {
    for (v, p, want) in [
        ("cpc", "*cp*", true),
        ("cp", "*cp*", true),
        ("ppc", "ppc", true),
        ("ppcx", "ppc", false),
        ("paid_social", "paid*", true),
        ("unpaid", "paid*", false),
        ("web_push", "*push", true),
        ("", "*", false),
        ("x", "*", true),
        ("push", "*push", true),
    ] {
        assert_eq!(pattern_matches(v, p), want, "{v} {p}");
    }
    for (v, s, want) in [
        ("google.com", "google", true),
        ("www.google.com.br", "google", true),
        ("google", "google", true),
        ("googlex.com", "google", false),
        ("google.evil.com", "google", false),
        ("t.co", "t.co", true),
        ("a.t.co", "t.co", true),
        ("at.co", "t.co", false),
        ("", "google", false),
        ("google.com", "", false),
    ] {
        assert_eq!(site_matches(v, s), want, "{v} {s}");
    }
}

#[test]
fn channel_names_are_stable_and_unique() {
    for c in Channel::ALL {
        assert_eq!(Channel::from_name(c.as_str()), Some(c));
        assert_eq!(Channel::ALL.iter().filter(|d| d.as_str() == c.as_str()).count(), 1);
    }
    assert_eq!(Channel::from_name("Organic_Search"), None);
    assert_eq!(Channel::OrganicSearch.as_str(), "organic_search");
    assert!(!Channel::Direct.is_attributable() && !Channel::Internal.is_attributable());
    assert!(Channel::Unassigned.is_attributable() && Channel::Referral.is_attributable());
}

#[test]
fn never_panics() {
    let odd = [
        "",
        "%",
        "?",
        "#",
        "://",
        "a:",
        "[",
        "http://@",
        "http://:",
        "http://[",
        "?=&=&",
        "%C3",
        "é?é=é#é",
        "\u{0}",
        "android-app:",
        "android-app://.",
        "http://.",
        "http://..",
        "http://a..b",
        "?utm_source=.&utm_medium=*",
    ];
    let cl = Classifier::default();
    for a in odd {
        for b in odd {
            let _ = cl.classify_with_rule(&Campaign::from_url(a), b, a);
            let _ = cl.classify(&Campaign::from_url(b), a, b);
        }
    }
}

const NAMED: &[(&str, &str)] = &[
    ("PAID_MEDIUMS", PAID_MEDIUMS),
    ("GA4_SEARCH", GA4_SEARCH),
    ("GA4_SOCIAL", GA4_SOCIAL),
    ("GA4_VIDEO", GA4_VIDEO),
    ("GA4_SHOPPING", GA4_SHOPPING),
    ("SEARCH_SITES", SEARCH_SITES),
    ("SOCIAL_SITES", SOCIAL_SITES),
    ("VIDEO_SITES", VIDEO_SITES),
    ("AUDIO_SITES", AUDIO_SITES),
    ("WEBMAIL_SITES", WEBMAIL_SITES),
];

fn backticked(list: &str) -> String {
    list.split('|').map(|x| ["`", x, "`"].concat()).collect::<Vec<_>>().join(", ")
}

fn describe_terms(t: &Terms) -> String {
    match t {
        Terms::Static(s) | Terms::Lines(s) => match NAMED.iter().find(|(_, l)| l == s) {
            Some((name, _)) => ["`", name, "`"].concat(),
            None => backticked(s),
        },
        Terms::Owned(s) => s.join(", "),
    }
}

fn describe(c: &Cond) -> String {
    match c {
        Cond::NoCampaign => "no campaign data".into(),
        Cond::NoUtm => "no `utm_*`".into(),
        Cond::NoReferrer => "no referrer".into(),
        Cond::SameSiteReferrer => "same-site referrer".into(),
        Cond::CrossSiteReferrer => "other-site referrer".into(),
        Cond::ShoppingCampaign => "shopping campaign".into(),
        Cond::ClickId(t) => ["click id ", &describe_terms(t)].concat(),
        Cond::Medium(t) => ["medium ", &describe_terms(t)].concat(),
        Cond::Source(t) => ["source ", &describe_terms(t)].concat(),
        Cond::SourceOrMedium(t) => ["source or medium ", &describe_terms(t)].concat(),
        Cond::Campaign(t) => ["campaign ", &describe_terms(t)].concat(),
        Cond::SourceSite(t) => ["source site ", &describe_terms(t)].concat(),
        Cond::SourceIn(t) => ["source in ", &describe_terms(t)].concat(),
        Cond::ReferrerSite(t) => ["referrer site ", &describe_terms(t)].concat(),
        Cond::App(t) => ["app referrer ", &describe_terms(t)].concat(),
    }
}

fn when(r: &Rule) -> String {
    r.when.iter().map(describe).collect::<Vec<_>>().join(" and ").replace('|', "\\|")
}

/// The Markdown tables of docs/channels.md, generated from the data.
fn markdown() -> String {
    let mut s = String::from("| # | GA4 rule | channel | when (all of) |\n| --- | --- | --- | --- |\n");
    for (i, r) in DEFAULT_RULES.iter().enumerate() {
        let ga4 = GA4_RULE.get(i).copied().unwrap_or("");
        s.push_str(&["| ", &i.to_string(), " | ", ga4, " | ", r.channel.as_str(), " | ", &when(r), " |\n"].concat());
    }
    s.push_str("| – | Unassigned | unassigned | nothing above matched |\n\n");
    s.push_str("Extended preset (`channelPreset: \"omnitrail-extended\"`), each row inserted before the GA4 row `#`:\n\n");
    s.push_str("| before # | channel | when (all of) |\n| --- | --- | --- |\n");
    for (at, r) in EXTENDED_RULES {
        s.push_str(&["| ", &at.to_string(), " | ", r.channel.as_str(), " | ", &when(r), " |\n"].concat());
    }
    s.push('\n');
    for (name, list) in NAMED {
        if list.contains('\n') {
            let n = (list.lines().count() + list.matches('~').count()).to_string();
            let file = ["src/channel/ga4/", &name.get(4..).unwrap_or("").to_ascii_lowercase(), ".txt"].concat();
            s.push_str(&["- `", name, "`: GA4's list, ", &n, " sources, in `", &file, "` (`x~`: `x` and `x.com`)\n"].concat());
        } else {
            s.push_str(&["- `", name, "`: ", &backticked(list), "\n"].concat());
        }
    }
    s
}

#[test]
fn docs_channels_md_documents_the_tables() {
    let doc = include_str!("../../docs/channels.md");
    let table = markdown();
    assert!(doc.contains(&table), "docs/channels.md is out of date; the tables are:\n{table}");
}
