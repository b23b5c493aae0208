//! The console's page frame and the pieces every page is made of. Pages are rendered on the
//! server with `maud`, which escapes every interpolated value; no page carries a script.

use maud::{DOCTYPE, Markup, html};

use super::session::{Flash, Session, Who};

/// The pages of the navigation bar: path, label, and whether only the operator or an account's
/// root sees it.
const NAV: &[(&str, &str, Audience)] = &[
    ("/console/keys", "Keys", Audience::Everyone),
    ("/console/data-keys", "Data keys", Audience::Everyone),
    ("/console/key-stores", "Key stores", Audience::Everyone),
    ("/console/accounts", "Accounts", Audience::Operator),
    (
        "/console/identity",
        "Users & policies",
        Audience::Administrator,
    ),
    ("/console/audit", "Audit trail", Audience::Administrator),
    ("/console/health", "Health", Audience::Operator),
    ("/console/seal", "Seal", Audience::Operator),
];

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Everyone,
    /// The operator, and an account's root credential for its own account.
    Administrator,
    Operator,
}

/// What the frame shows of the session.
pub struct Chrome<'a> {
    pub session: &'a Session,
    /// The path of the page, to mark its tab.
    pub here: &'a str,
    /// Whether the session may manage its account's identity (operator or account root).
    pub administrator: bool,
    /// The accounts the operator may switch between; empty for a credential's session.
    pub accounts: &'a [u64],
    pub regions: &'a [String],
}

pub fn page(chrome: &Chrome<'_>, title: &str, body: Markup) -> Markup {
    let s = chrome.session;
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header {
                    span.brand { "kmsd" }
                    nav {
                        @for (path, label, audience) in NAV {
                            @if visible(*audience, s, chrome.administrator) {
                                a href=(path) class=[chrome.here.starts_with(path).then_some("here")] { (label) }
                            }
                        }
                    }
                    div.who {
                        form method="post" action="/console/scope" {
                            (csrf(s))
                            @if !chrome.accounts.is_empty() {
                                select name="account" aria-label="account" {
                                    @for uin in chrome.accounts {
                                        option value=(uin) selected[s.account == Some(*uin)] { "account " (uin) }
                                    }
                                }
                            }
                            select name="region" aria-label="region" {
                                @for r in chrome.regions {
                                    option value=(r) selected[*r == s.region] { (r) }
                                }
                            }
                            button.plain type="submit" { "Switch" }
                        }
                        span.muted { (who(s)) }
                        form method="post" action="/console/logout" {
                            (csrf(s))
                            button.plain type="submit" { "Log out" }
                        }
                    }
                }
                main {
                    @if let Some(flash) = &s.flash { (flash_box(flash)) }
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// Every page's head: its title, the style sheet, the icon.
fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · kmsd" }
            link rel="stylesheet" href="/console/static/console.css";
            link rel="icon" href="/console/static/icon.svg";
        }
    }
}

fn visible(audience: Audience, s: &Session, administrator: bool) -> bool {
    match audience {
        Audience::Everyone => true,
        Audience::Administrator => administrator,
        Audience::Operator => s.who == Who::Operator,
    }
}

fn who(s: &Session) -> String {
    match &s.who {
        Who::Operator => "operator".to_owned(),
        Who::Credential { secret_id } => format!("credential {secret_id}"),
    }
}

fn flash_box(flash: &Flash) -> Markup {
    html! {
        div class={ "flash " (if flash.ok { "ok" } else { "bad" }) } role="status" { (flash.text) }
    }
}

/// The hidden field that proves a form came from a page of this session.
pub fn csrf(s: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(s.csrf); }
}

/// A form of one button that posts to `action`, with hidden `fields`.
pub fn button(
    s: &Session,
    action: &str,
    label: &str,
    danger: bool,
    fields: &[(&str, &str)],
) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            (csrf(s))
            @for (name, value) in fields {
                input type="hidden" name=(name) value=(value);
            }
            button type="submit" class=[danger.then_some("danger")] { (label) }
        }
    }
}

/// The login page: the operator's token, or an account's credential.
pub fn login(message: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head("Log in"))
            body {
                main.login {
                    h1 { "kmsd console" }
                    @if let Some(m) = message { div.flash.bad role="alert" { (m) } }
                    form.block method="post" action="/console/login" id="operator-login" {
                        input type="hidden" name="kind" value="operator";
                        label { "Operator token (the data directory's admin-token file)"
                            input type="password" name="token" autocomplete="off" required;
                        }
                        button type="submit" { "Log in as operator" }
                    }
                    form.block method="post" action="/console/login" id="credential-login" {
                        input type="hidden" name="kind" value="credential";
                        label { "SecretId (Huawei AK)" input type="text" name="secret_id" autocomplete="username" required; }
                        label { "SecretKey (Huawei SK)" input type="password" name="secret_key" autocomplete="current-password" required; }
                        button type="submit" { "Log in with a credential" }
                    }
                }
            }
        }
    }
}

/// A page shown outside a session: a refusal of the transport or the method.
pub fn bare(title: &str, text: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body { main.login { h1 { (title) } p { (text) } p { a href="/console/login" { "Log in" } } } }
        }
    }
}

/// Unix seconds as a UTC date and time; 0 is shown as a dash (the vendor's "never").
pub fn when(unix: u64) -> String {
    if unix == 0 {
        return "—".to_owned();
    }
    let iso = kms_core::utc_date_time(unix);
    format!("{} {} UTC", &iso[..10], &iso[11..19])
}

/// A table of `(name, value)` facts.
pub fn facts(rows: &[(&str, String)]) -> Markup {
    html! {
        dl.facts {
            @for (name, value) in rows {
                dt { (name) }
                dd.mono { (value) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc() {
        assert_eq!(when(0), "—");
        assert_eq!(when(1_700_000_000), "2023-11-14 22:13:20 UTC");
    }

    #[test]
    fn values_are_escaped() {
        let markup = facts(&[("alias", "<script>alert(1)</script>".to_owned())]).into_string();
        assert!(!markup.contains("<script>"));
        assert!(markup.contains("&lt;script&gt;"));
        let login = login(Some("\"><img src=x>")).into_string();
        assert!(!login.contains("<img"));
    }
}
