use super::*;
use crate::testing::{MemoryStorage, SeqIds};

fn cookie_cfg(host: &str) -> CookieConfig {
    CookieConfig { name: "omnitrail_aid".into(), domain: None, max_age_s: 31_536_000, host: host.into(), disabled: false }
}

fn load(st: &mut MemoryStorage, host: &str, seed: u8) -> Identity {
    st.set_host(host);
    Identity::load("ot1", cookie_cfg(host), st, &mut SeqIds::seeded(seed))
}

#[test]
fn cookie_and_local_storage_repair_each_other() {
    let mut st = MemoryStorage::default();
    let mut a = load(&mut st, "www.shop.test", 1);
    a.persist(&mut st, "n");
    let aid = a.anonymous_id.clone();
    assert_eq!(st.cookies(), vec![("omnitrail_aid".into(), aid.clone(), Some("shop.test".into()))]);
    assert_eq!(st.get("ot1.aid"), Some(aid.clone()));

    // Cookie lost (Safari's cap, the user cleared cookies): restored from localStorage.
    st.clear_cookie("omnitrail_aid");
    let mut b = load(&mut st, "www.shop.test", 2);
    assert_eq!(b.anonymous_id, aid);
    b.persist(&mut st, "n");
    assert_eq!(st.cookie("omnitrail_aid"), Some(aid.clone()));

    // localStorage lost (another subdomain has its own localStorage): restored from the cookie.
    st.remove("ot1.aid");
    let c = load(&mut st, "app.shop.test", 3);
    assert_eq!(c.anonymous_id, aid, "app. shares www.'s id through the cookie");
    assert_eq!(st.get("ot1.aid"), Some(aid));
}

#[test]
fn the_cookie_wins_when_the_copies_disagree() {
    let mut st = MemoryStorage::default();
    st.plant("ot1.aid", "local-id");
    st.set_host("a.example.co.uk");
    st.set_cookie("omnitrail_aid", "cookie-id", &CookieSpec { domain: Some("example.co.uk"), max_age_s: 10 });
    let id = load(&mut st, "a.example.co.uk", 1);
    assert_eq!(id.anonymous_id, "cookie-id");
    assert_eq!(st.get("ot1.aid").as_deref(), Some("cookie-id"));
}

#[test]
fn host_only_cookie_on_localhost_and_ips_and_never_on_a_public_suffix() {
    for host in ["localhost", "127.0.0.1"] {
        let mut st = MemoryStorage::default();
        let mut id = load(&mut st, host, 1);
        id.persist(&mut st, "n");
        assert_eq!(st.cookies()[0].2, None, "{host}");
    }
    let mut st = MemoryStorage::default();
    let mut id = load(&mut st, "deep.shop.example.co.uk", 1);
    id.persist(&mut st, "n");
    assert_eq!(st.cookies()[0].2.as_deref(), Some("example.co.uk"));
    // It tried co.uk (refused by the browser), and nothing is stored there.
    assert!(st.cookie_attempts().contains(&Some("co.uk".into())));
    assert!(st.cookies().iter().all(|c| c.2.as_deref() != Some("co.uk")));
}

#[test]
fn cookie_writes_happen_in_persist_and_only_when_due() {
    let mut st = MemoryStorage::default();
    let mut id = load(&mut st, "shop.test", 1);
    assert!(st.cookies().is_empty(), "load does not write cookies");
    id.persist(&mut st, "n");
    let attempts = st.cookie_attempts().len();
    id.persist(&mut st, "n");
    assert_eq!(st.cookie_attempts().len(), attempts, "not due: no write");
    id.refresh_cookie();
    id.persist(&mut st, "n");
    assert_eq!(st.cookie_attempts().len(), attempts + 1, "due: one write, probing cached");
}

#[test]
fn traits_merge_persist_and_do_not_leak_to_the_next_user() {
    let mut st = MemoryStorage::default();
    let mut ids = SeqIds::seeded(9);
    let mut id = load(&mut st, "shop.test", 1);
    id.identify(Some("ada"), r#"{"plan":"free","email":"a@x"}"#, &mut st, &mut ids);
    id.identify(None, r#"{"plan":"pro"}"#, &mut st, &mut ids);
    assert_eq!(id.traits, r#"{"email":"a@x","plan":"pro"}"#);
    let reloaded = load(&mut st, "shop.test", 2);
    assert_eq!(reloaded.traits, id.traits);
    assert_eq!(reloaded.user_id.as_deref(), Some("ada"));
    let aid = id.anonymous_id.clone();
    id.identify(Some("bob"), "{}", &mut st, &mut ids);
    assert_eq!(id.traits, "{}");
    assert_ne!(id.anonymous_id, aid);
    assert_eq!(st.get("ot1.traits"), None);
    id.identify(Some("bob"), r#"{"x":1}"#, &mut st, &mut ids);
    id.reset(&mut st, &mut ids);
    assert_eq!((id.user_id.clone(), id.traits.as_str()), (None, "{}"));
}

#[test]
fn cookieless_mode_writes_no_cookie() {
    let mut st = MemoryStorage::default();
    st.set_host("shop.test");
    let mut cfg = cookie_cfg("shop.test");
    cfg.disabled = true;
    let mut id = Identity::load("ot1", cfg, &mut st, &mut SeqIds::seeded(1));
    id.refresh_cookie();
    id.persist(&mut st, "n");
    assert!(st.cookie_attempts().is_empty());
}
