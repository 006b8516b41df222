//! What every page shares: the frame (styles, the link home, the table sorter), number
//! formatting, and figures. Pages are maud templates, so every string from the store (run
//! names, errors, spec values, class names) is escaped; only SVG drawn here and the fixed
//! style and script go in raw.

use maud::{html, Markup, PreEscaped, DOCTYPE};

const STYLE: &str = r#"
body{font-family:"DejaVu Sans",Verdana,sans-serif;font-size:16px;line-height:1.45;margin:2em auto;max-width:1320px;padding:0 1.5em;color:#1d1d1d}
h1{font-size:1.7em;margin-bottom:.2em}h2{font-size:1.35em;margin-top:2em;border-bottom:1px solid #ddd}h3{font-size:1.1em;margin-top:1.5em}
table{border-collapse:collapse;margin:.8em 0 1.2em;font-size:15px}
td,th{border:1px solid #d4d4d4;padding:.3em .6em;text-align:right;vertical-align:top;white-space:nowrap}
td.l{white-space:normal;overflow-wrap:anywhere;max-width:26em}
th{background:#f2f4f7;position:sticky;top:0}th.sort{cursor:pointer}th.sort:after{content:" \2195";color:#999}
td.l,th.l{text-align:left}tr.base td{background:#f6f9ff}tr.bad td{background:#fff4f2}
.err{color:#a11;white-space:pre-wrap}.note{color:#555;font-size:15px}.warn{color:#8a5a00}
figure{margin:1.2em 0}figcaption{font-size:15px;color:#444;margin-bottom:.3em}
.pair{display:flex;flex-wrap:wrap;gap:1.2em}code,pre{font-size:14px}pre{background:#f7f7f7;padding:1em;overflow:auto}
a{color:#0b5cad}nav{font-size:15px;margin-bottom:1em}.better{color:#116b1f}.worse{color:#a11}
.leak{color:#8a5a00}.called{font-weight:bold}div.wide{overflow-x:auto;max-width:100%}div.arms td.l:first-child{min-width:13em;overflow-wrap:break-word}div.wide table{font-size:14px}div.wide td,div.wide th{padding:.25em .4em}
svg{max-width:100%;height:auto}
"#;

/// Click a header to sort by it; numbers sort by their `data-v` value.
const SORTER: &str = r#"
document.querySelectorAll("table.sortable").forEach(function(t){
  t.querySelectorAll("th").forEach(function(th,col){
    th.classList.add("sort");
    th.addEventListener("click",function(){
      var body=t.tBodies[0],rows=Array.prototype.slice.call(body.rows),up=th.dataset.dir!=="up";
      th.dataset.dir=up?"up":"down";
      function key(r){var c=r.cells[col];if(!c)return "";var v=c.getAttribute("data-v");
        return v!==null&&v!==""?parseFloat(v):c.textContent.trim().toLowerCase();}
      rows.sort(function(a,b){var x=key(a),y=key(b);
        if(typeof x==="number"&&typeof y==="number")return up?x-y:y-x;
        x=String(x);y=String(y);return up?x.localeCompare(y):y.localeCompare(x);});
      rows.forEach(function(r){body.appendChild(r);});
    });
  });
});
"#;

/// A whole page; `home` is the relative path to `index.html`.
pub fn frame(title: &str, home: Option<&str>, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                @if let Some(h) = home {
                    nav { a href=(h) { "← all runs and sweeps" } }
                }
                (body)
                script { (PreEscaped(SORTER)) }
            }
        }
    }
    .into_string()
}

/// A number to `digits` places, `—` when unknown.
pub fn num(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.digits$}"),
        _ => "—".to_string(),
    }
}

/// A numeric cell that sorts by its value.
pub fn num_cell(v: Option<f64>, digits: usize) -> Markup {
    let key = v.filter(|x| x.is_finite()).map(|x| x.to_string());
    html! { td data-v=[key] { (num(v, digits)) } }
}

/// A stored UTC timestamp to the minute, as people read it.
pub fn when(stamp: &str) -> String {
    let s: String = stamp.replacen('T', " ", 1).chars().take(16).collect();
    s
}

/// A chart with its caption, or the reason it could not be drawn.
pub fn figure(caption: Markup, svg: Result<String, String>) -> Markup {
    html! {
        figure {
            figcaption { (caption) }
            @match svg {
                Ok(s) => (PreEscaped(s)),
                Err(e) => p.err { "This chart could not be drawn: " (e) },
            }
        }
    }
}

/// A file name for `name` (sweep names may hold any character; a name that had to be
/// changed gets a digest of itself, so that two names never share a file).
pub fn file_name(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe == name && !name.is_empty() && !name.starts_with('.') {
        safe
    } else {
        let digest = crate::digest::sha256_hex(name.as_bytes());
        format!("_{safe}-{}", &digest[..8])
    }
}
