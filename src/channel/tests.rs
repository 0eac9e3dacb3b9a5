use super::*;

const PAGE: &str = "https://shop.example.com/landing";

fn classify(landing: &str, referrer: &str) -> (Channel, Option<usize>) {
    Classifier::default().classify_with_rule(&Campaign::from_url(landing), referrer, landing)
}

fn at(query: &str) -> String {
    [PAGE, query].concat()
}

/// (row of DEFAULT_RULES expected to match, channel, landing query, referrer). Every row has
/// at least one case (checked below).
const ROWS: &[(usize, Channel, &str, &str)] = &[
    (0, Channel::Internal, "", "https://shop.example.com/cart"),
    (0, Channel::Internal, "", "https://www.example.com/"),
    (0, Channel::Internal, "?ref=nav", "https://blog.example.com/post?x=1"),
    (1, Channel::Direct, "", ""),
    (1, Channel::Direct, "?q=shoes", "about:blank"),
    (2, Channel::CrossNetwork, "?utm_campaign=PMax+Cross-Network+Q3&utm_source=google&utm_medium=cpc", ""),
    (3, Channel::CrossNetwork, "?utm_medium=cross-network&utm_source=google", ""),
    (4, Channel::PaidSearch, "?utm_medium=paid_search&utm_source=newsletter", ""),
    (4, Channel::PaidSearch, "?utm_medium=SEM", ""),
    (5, Channel::PaidSocial, "?utm_medium=paid-social&utm_source=partner_app", ""),
    (6, Channel::PaidVideo, "?utm_medium=cpv&utm_source=youtube", ""),
    (7, Channel::Display, "?utm_medium=banner&utm_source=adnetwork", ""),
    (7, Channel::Display, "?utm_medium=cpm&utm_source=google", ""),
    (8, Channel::PaidSearch, "?utm_source=google&utm_medium=cpc", ""),
    (8, Channel::PaidSearch, "?utm_source=bing&utm_medium=ppc", "https://www.bing.com/"),
    (8, Channel::PaidSearch, "?utm_medium=cpc", "https://duckduckgo.com/"),
    (9, Channel::PaidVideo, "?utm_source=youtube.com&utm_medium=paid", ""),
    (10, Channel::PaidSocial, "?utm_source=facebook&utm_medium=paid&fbclid=abc", "https://l.facebook.com/"),
    (10, Channel::PaidSocial, "?utm_source=ig&utm_medium=cpc", ""),
    (10, Channel::PaidSocial, "?utm_source=linkedin&utm_medium=retargeting", ""),
    (11, Channel::Affiliate, "?utm_medium=affiliate&utm_source=awin", "https://www.awin1.com/"),
    (12, Channel::Email, "?utm_medium=email&utm_source=crm", ""),
    (12, Channel::Email, "?utm_source=Weekly-Newsletter&utm_medium=link", ""),
    (13, Channel::Sms, "?utm_medium=sms&utm_source=twilio", ""),
    (14, Channel::MobilePush, "?utm_medium=web_push&utm_source=site", ""),
    (14, Channel::MobilePush, "?utm_source=firebase", ""),
    (15, Channel::Offline, "?utm_medium=qr&utm_source=store_poster", ""),
    (15, Channel::Offline, "?utm_medium=Print&utm_source=magazine", ""),
    (15, Channel::Offline, "?utm_medium=pos", ""),
    (16, Channel::Audio, "?utm_medium=podcast&utm_source=the_show", ""),
    (17, Channel::PaidSearch, "?gclid=Cj0KCQ", ""),
    (17, Channel::PaidSearch, "?gbraid=0AAAA&utm_campaign=spring", "https://www.google.com/"),
    (17, Channel::PaidSearch, "?msclkid=abc", "https://www.bing.com/"),
    (17, Channel::PaidSearch, "?wbraid=x", "android-app://com.google.android.googlequicksearchbox/"),
    (18, Channel::Display, "?dclid=abc", ""),
    (19, Channel::PaidSocial, "?ttclid=abc", "https://www.tiktok.com/"),
    (19, Channel::PaidSocial, "?li_fat_id=abc", ""),
    (19, Channel::PaidSocial, "?epik=abc", "https://www.pinterest.com/"),
    (19, Channel::PaidSocial, "?twclid=1&rdt_cid=2&sccid=3", ""),
    (20, Channel::Affiliate, "?irclid=abc", "https://partner-blog.net/"),
    (21, Channel::Email, "?_kx=abc", ""),
    (21, Channel::Email, "?mc_cid=abc&utm_campaign=june", ""),
    (22, Channel::PaidOther, "?utm_source=adroll&utm_medium=retargeting", ""),
    (22, Channel::PaidOther, "?utm_medium=cpc", ""),
    (23, Channel::Email, "", "https://mail.google.com/"),
    (23, Channel::Email, "", "https://outlook.live.com/mail/0/"),
    (23, Channel::Email, "?utm_campaign=june", "https://mail.yahoo.com/d/folders/1"),
    (24, Channel::Email, "", "android-app://com.google.android.gm/"),
    (24, Channel::Email, "", "android-app://com.microsoft.office.outlook"),
    (25, Channel::Sms, "", "android-app://com.google.android.apps.messaging/"),
    (26, Channel::OrganicSearch, "", "android-app://com.google.android.googlequicksearchbox/"),
    (26, Channel::OrganicSearch, "", "android-app://com.google.android.googlequicksearchbox/https/www.google.com"),
    (27, Channel::Video, "", "android-app://com.google.android.youtube/"),
    (28, Channel::Audio, "", "android-app://com.spotify.music/"),
    (29, Channel::OrganicSocial, "", "android-app://com.facebook.katana/"),
    (29, Channel::OrganicSocial, "", "android-app://com.facebook.orca/"),
    (29, Channel::OrganicSocial, "", "android-app://com.linkedin.android/"),
    (30, Channel::Video, "", "https://www.youtube.com/"),
    (30, Channel::Video, "", "https://m.youtube.com/watch?v=1"),
    (30, Channel::Video, "", "https://youtu.be/abc"),
    (30, Channel::Video, "?utm_source=vimeo", ""),
    (31, Channel::Video, "?utm_medium=video&utm_source=somewhere", ""),
    (32, Channel::Audio, "", "https://open.spotify.com/episode/1"),
    (32, Channel::Audio, "", "https://podcasts.apple.com/us/podcast/x"),
    (33, Channel::OrganicSearch, "", "https://www.google.com/"),
    (33, Channel::OrganicSearch, "", "https://www.google.co.uk/"),
    (33, Channel::OrganicSearch, "", "https://news.google.com/"),
    (33, Channel::OrganicSearch, "", "https://duckduckgo.com/"),
    (33, Channel::OrganicSearch, "", "https://search.yahoo.com/search?p=x"),
    (33, Channel::OrganicSearch, "", "https://yandex.ru/search/?text=x"),
    (33, Channel::OrganicSearch, "", "https://www.ecosia.org/"),
    (33, Channel::OrganicSearch, "", "https://www.qwant.com/"),
    (33, Channel::OrganicSearch, "", "https://search.naver.com/"),
    (33, Channel::OrganicSearch, "", "https://www.seznam.cz/"),
    (33, Channel::OrganicSearch, "", "https://www.baidu.com/link?url=x"),
    (33, Channel::OrganicSearch, "", "https://search.brave.com/"),
    (33, Channel::OrganicSearch, "?utm_source=google", ""),
    (34, Channel::OrganicSearch, "?utm_medium=organic&utm_source=kelkoo", ""),
    (35, Channel::OrganicSocial, "", "https://t.co/abc"),
    (35, Channel::OrganicSocial, "", "https://x.com/someone"),
    (35, Channel::OrganicSocial, "", "https://lm.facebook.com/l.php?u=x"),
    (35, Channel::OrganicSocial, "", "https://www.instagram.com/"),
    (35, Channel::OrganicSocial, "", "https://www.linkedin.com/"),
    (35, Channel::OrganicSocial, "", "https://lnkd.in/abc"),
    (35, Channel::OrganicSocial, "", "https://www.reddit.com/r/x"),
    (35, Channel::OrganicSocial, "", "https://www.tiktok.com/"),
    (35, Channel::OrganicSocial, "", "https://pin.it/abc"),
    (35, Channel::OrganicSocial, "?fbclid=IwAR", "https://m.facebook.com/"),
    (35, Channel::OrganicSocial, "?utm_source=twitter", ""),
    (36, Channel::OrganicSocial, "?utm_medium=social&utm_source=ourbrand", ""),
    (37, Channel::OrganicSocial, "?fbclid=IwAR", ""),
    (38, Channel::Referral, "?utm_medium=referral&utm_source=partner", ""),
    (39, Channel::Referral, "", "https://blog.other.org/post"),
    (39, Channel::Referral, "", "android-app://com.example.someapp/"),
    (39, Channel::Referral, "", "https://other.co.uk/"),
];

#[test]
fn every_row_matches_its_cases() {
    for &(row, channel, query, referrer) in ROWS {
        let landing = at(query);
        assert_eq!(classify(&landing, referrer), (channel, Some(row)), "{landing} from {referrer:?}");
    }
    for row in 0..DEFAULT_RULES.len() {
        assert!(ROWS.iter().any(|c| c.0 == row), "row {row} has no test case");
        assert!(ROWS.iter().filter(|c| c.0 == row).all(|c| c.1 == DEFAULT_RULES.get(row).map_or(Channel::Unassigned, |r| r.channel)));
    }
}

#[test]
fn unassigned_when_nothing_matches() {
    for (query, referrer) in [
        ("?utm_source=foo", ""),
        ("?utm_medium=weird&utm_source=bar", "https://other.org/"),
        ("?utm_campaign=spring", ""),
        ("?utm_term=shoes&utm_content=a", "https://unknown.example.net/"),
    ] {
        assert_eq!(classify(&at(query), referrer), (Channel::Unassigned, None), "{query} {referrer}");
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
        ("https://shop.example.com/?utm_medium=%70aid%5Fsocial", "", Channel::PaidSocial),
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
        // Webmail beats the google brand; google click id beats the organic referrer.
        ("https://shop.example.com/", "https://mail.google.com/mail/u/0/", Channel::Email),
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
    assert_eq!((ch, row), (Channel::Direct, Some(3)));

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
    let keys = ["medium", "source", "sourceOrMedium", "campaign", "sourceSite", "referrerSite", "app", "clickId"];
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
    for r in DEFAULT_RULES {
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
                | Cond::ReferrerSite(t)
                | Cond::App(t) => t,
                _ => continue,
            };
            assert!(terms.any(|x| !x.is_empty()));
            assert!(!terms.any(|x| x.is_empty() || x != x.trim() || x.to_ascii_lowercase() != x), "{terms:?}");
        }
    }
    // Every click id the campaign module captures is classified by some row.
    for (param, key) in crate::campaign::KEYS.iter().skip(crate::campaign::UTM_COUNT) {
        let c = Campaign::from_query(&[param, "=1"].concat());
        assert_ne!(Classifier::default().classify_with_rule(&c, "", PAGE).1, None, "{key}");
    }
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
        Terms::Static(s) => match NAMED.iter().find(|(_, l)| l == s) {
            Some((name, _)) => ["`", name, "`"].concat(),
            None => backticked(s),
        },
        Terms::Owned(s) => s.join(", "),
    }
}

fn describe(c: &Cond) -> String {
    match c {
        Cond::NoCampaign => "no campaign data".into(),
        Cond::NoReferrer => "no referrer".into(),
        Cond::SameSiteReferrer => "same-site referrer".into(),
        Cond::CrossSiteReferrer => "other-site referrer".into(),
        Cond::ClickId(t) => ["click id ", &describe_terms(t)].concat(),
        Cond::Medium(t) => ["medium ", &describe_terms(t)].concat(),
        Cond::Source(t) => ["source ", &describe_terms(t)].concat(),
        Cond::SourceOrMedium(t) => ["source or medium ", &describe_terms(t)].concat(),
        Cond::Campaign(t) => ["campaign ", &describe_terms(t)].concat(),
        Cond::SourceSite(t) => ["source site ", &describe_terms(t)].concat(),
        Cond::ReferrerSite(t) => ["referrer site ", &describe_terms(t)].concat(),
        Cond::App(t) => ["app referrer ", &describe_terms(t)].concat(),
    }
}

/// The Markdown table of docs/channels.md, generated from the data.
fn markdown() -> String {
    let mut s = String::from("| # | channel | when (all of) |\n| --- | --- | --- |\n");
    for (i, r) in DEFAULT_RULES.iter().enumerate() {
        let when = r.when.iter().map(describe).collect::<Vec<_>>().join(" and ");
        s.push_str(&["| ", &i.to_string(), " | ", r.channel.as_str(), " | ", &when.replace('|', "\\|"), " |\n"].concat());
    }
    s.push_str("| – | unassigned | nothing above matched |\n\n");
    for (name, list) in NAMED {
        s.push_str(&["- `", name, "`: ", &backticked(list), "\n"].concat());
    }
    s
}

#[test]
fn docs_channels_md_documents_the_table() {
    let doc = include_str!("../../docs/channels.md");
    let table = markdown();
    assert!(doc.contains(&table), "docs/channels.md is out of date; the table is:\n{table}");
}
