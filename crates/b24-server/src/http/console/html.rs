//! Writing the console's HTML by hand: every piece of text that is not a literal of this file
//! goes through [`esc`] (or [`attr`], the same escaping for attribute values), so item titles,
//! parameters and error texts cannot become markup.

use std::fmt::Write as _;

/// Text escaped for HTML element content and quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A value for a quoted attribute (the same escaping as [`esc`]).
pub fn attr(text: &str) -> String {
    esc(text)
}

/// A query-string component, percent-encoded.
pub fn q(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The pages of the navigation, in order: (path after `/_b24/ui/`, title).
pub const NAV: &[(&str, &str)] = &[
    ("", "Overview"),
    ("requests", "Requests"),
    ("data", "Data"),
    ("events", "Events"),
    ("faults", "Faults and clock"),
    ("access", "Access"),
    ("snapshots", "Snapshots"),
];

/// What the frame around every page needs.
pub struct Frame<'a> {
    /// The page's title (also its `<h1>`).
    pub title: &'a str,
    /// Which [`NAV`] entry is current.
    pub current: &'a str,
    /// The portal shown.
    pub portal: &'a str,
    /// Every portal's name, for the selector (shown when there are several).
    pub portals: &'a [String],
    /// A message after a change (already chosen from a fixed table, escaped here).
    pub notice: Option<&'a str>,
}

/// A whole page: the frame, the navigation, the portal selector and `body`.
pub fn page(frame: &Frame<'_>, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 4096);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title} · b24-server console</title>\
<link rel=\"stylesheet\" href=\"/_b24/ui/assets/console.css\">\
<script src=\"/_b24/ui/assets/console.js\" defer></script></head><body>\
<a class=\"skip\" href=\"#main\">Skip to content</a>\
<header><span class=\"brand\">b24-server</span><nav aria-label=\"Console pages\"><ul>",
        title = esc(frame.title)
    );
    for (path, name) in NAV {
        let current = if *path == frame.current {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<li><a href=\"{}\"{current}>{}</a></li>",
            attr(&link(frame.portal, path)),
            esc(name)
        );
    }
    out.push_str("</ul></nav>");
    if frame.portals.len() > 1 {
        let _ = write!(
            out,
            "<form class=\"portal\" method=\"get\" action=\"/_b24/ui/{}\"><label for=\"portal-select\">Portal</label> \
<select id=\"portal-select\" name=\"portal\" data-autosubmit>",
            attr(frame.current)
        );
        for name in frame.portals {
            let selected = if name == frame.portal {
                " selected"
            } else {
                ""
            };
            let _ = write!(
                out,
                "<option value=\"{v}\"{selected}>{v}</option>",
                v = esc(name)
            );
        }
        out.push_str("</select> <button type=\"submit\">Show</button></form>");
    } else {
        let _ = write!(
            out,
            "<span class=\"portal\">Portal <strong>{}</strong></span>",
            esc(frame.portal)
        );
    }
    let _ = write!(
        out,
        "</header><main id=\"main\" tabindex=\"-1\"><h1>{}</h1>",
        esc(frame.title)
    );
    if let Some(notice) = frame.notice {
        let _ = write!(
            out,
            "<p class=\"notice\" role=\"status\">{}</p>",
            esc(notice)
        );
    }
    out.push_str(body);
    out.push_str("</main></body></html>");
    out
}

/// The URL of a console page for a portal (`path` after `/_b24/ui/`, may carry a query).
pub fn link(portal: &str, path: &str) -> String {
    let base = format!("/_b24/ui/{path}");
    if portal == crate::portals::DEFAULT_PORTAL_NAME {
        return base;
    }
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}portal={}", q(portal))
}

/// The hidden field that keeps a form on its portal.
pub fn portal_field(portal: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"portal\" value=\"{}\">",
        attr(portal)
    )
}

/// A form that POSTs to `action` with one button (and the portal field).
pub fn button_form(portal: &str, action: &str, label: &str, extra: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{}\" class=\"inline\">{}{extra}<button type=\"submit\">{}</button></form>",
        attr(action),
        portal_field(portal),
        esc(label)
    )
}

/// JSON shown in a `<pre>`, indented and escaped.
pub fn json_block(value: &serde_json::Value, label: &str) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    format!(
        "<pre class=\"json\" aria-label=\"{}\" tabindex=\"0\">{}</pre>",
        attr(label),
        esc(&text)
    )
}

/// A horizontal gauge: `value` of `max`, with its text.
pub fn gauge(label: &str, value: f64, max: f64, text: &str) -> String {
    let ratio = if max > 0.0 {
        (value / max).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let level = if ratio >= 0.9 {
        "high"
    } else if ratio >= 0.6 {
        "mid"
    } else {
        "low"
    };
    format!(
        "<div class=\"gauge\"><span class=\"gauge-label\">{}</span>\
<meter min=\"0\" max=\"{max}\" value=\"{value}\" aria-label=\"{}\" class=\"{level}\"></meter>\
<span class=\"gauge-text\">{}</span></div>",
        esc(label),
        attr(&format!("{label}: {text}")),
        esc(text)
    )
}

/// A small line chart of `points` (oldest first) scaled to their maximum, as inline SVG.
pub fn sparkline(label: &str, points: &[f64], unit: &str) -> String {
    let (w, h) = (240.0, 40.0);
    let max = points.iter().copied().fold(0.0_f64, f64::max);
    let n = points.len().max(2) as f64 - 1.0;
    let mut path = String::new();
    for (i, v) in points.iter().enumerate() {
        let x = i as f64 / n * w;
        let y = if max > 0.0 {
            h - v / max * (h - 4.0) - 2.0
        } else {
            h - 2.0
        };
        let _ = write!(path, "{}{x:.1},{y:.1} ", if i == 0 { "M" } else { "L" });
    }
    let last = points.last().copied().unwrap_or(0.0);
    format!(
        "<figure class=\"spark\"><svg viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"{}\">\
<path d=\"{}\" fill=\"none\" stroke=\"currentColor\" stroke-width=\"2\"/></svg>\
<figcaption>{}: now {last:.2}{}, peak {max:.2}{}</figcaption></figure>",
        attr(&format!(
            "{label} over the last minutes: now {last:.2}{unit}, peak {max:.2}{unit}"
        )),
        path.trim_end(),
        esc(label),
        esc(unit),
        esc(unit)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_quotes_are_escaped() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
    }

    #[test]
    fn links_carry_the_portal_unless_it_is_the_default() {
        assert_eq!(link("default", "requests"), "/_b24/ui/requests");
        assert_eq!(link("t1", "requests"), "/_b24/ui/requests?portal=t1");
        assert_eq!(link("t1", "data?type=2"), "/_b24/ui/data?type=2&portal=t1");
    }
}
