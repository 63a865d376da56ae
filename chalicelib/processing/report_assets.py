"""The report page's one stylesheet and one script, and the policy that allows exactly them."""

from __future__ import annotations

import base64
import hashlib

CSS = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1a202c;
background:#f4f6f9}
header.top{background:#1a365d;color:#fff;padding:18px 24px 14px}
header.top h1{margin:0;font-size:24px;letter-spacing:.2px}header.top p{margin:4px 0 0;color:#cbd5e0}
nav{background:#2a4365;padding:8px 24px;display:flex;flex-wrap:wrap;gap:6px 8px;z-index:2;
box-shadow:0 1px 3px rgba(0,0,0,.25)}
nav a{color:#fff;text-decoration:none;padding:4px 10px;border-radius:14px;background:#2c5282;
white-space:nowrap}
nav a:hover,nav a:focus{background:#3182ce}
main{max-width:1440px;margin:0 auto;padding:8px 24px 40px}
h2{font-size:20px;margin:28px 0 8px}h3{font-size:15px;margin:18px 0 6px;color:#2d3748}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:12px 16px;margin:12px 0;
box-shadow:0 1px 2px rgba(0,0,0,.05)}
.stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px;margin:16px 0}
.stat{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:10px 14px}
.stat b{display:block;font-size:26px;line-height:1.2}.stat span{color:#4a5568}
.stat.warn{border-color:#dd6b20;background:#fffaf0}.stat.bad{border-color:#c53030;background:#fff5f5}
section.project{scroll-margin-top:56px}
.facts{display:flex;flex-wrap:wrap;gap:4px 18px;margin:6px 0;color:#2d3748}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:6px 0;background:#fff;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid #e2e8f0;padding:5px 8px;text-align:left;vertical-align:top;
white-space:nowrap}
th{background:#edf2f7;font-weight:600;white-space:normal;vertical-align:bottom;line-height:1.25}
th.num,td.num{text-align:right}td.wrap{white-space:normal;min-width:140px}
td.id{font:12px/1.5 ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;color:#4a5568;
white-space:normal;min-width:120px}td.id span{white-space:nowrap}
table.sortable th{cursor:pointer;user-select:none}
th[aria-sort=ascending]::after{content:" \\25B2";font-size:10px}
th[aria-sort=descending]::after{content:" \\25BC";font-size:10px}
tr.failed td{background:#fff5f5}tr.champion td{background:#f0fff4}
tr.drift td{background:#fffaf0}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;
border:1px solid transparent}
.badge.ok{background:#c6f6d5;color:#22543d}.badge.bad{background:#fed7d7;color:#822727;
border-color:#c53030}.badge.warn{background:#feebc8;color:#7b341e;border-color:#dd6b20}
.badge.info{background:#e2e8f0;color:#2d3748}.badge.star{background:#fefcbf;color:#744210;
border-color:#d69e2e}
input.filter{font:inherit;padding:5px 10px;border:1px solid #cbd5e0;border-radius:6px;
width:min(320px,100%);margin:4px 0}
.none{color:#718096;font-style:italic}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:10px}
.charts figure{margin:0;background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:6px}
svg{max-width:100%;height:auto;display:block}
svg text{font-size:11px;fill:#2d3748}svg .axis{font-size:12px;font-weight:600}
svg .area{fill:#f7fafc}svg .grid{stroke:#e2e8f0}
svg .dot{fill:#2b6cb0;fill-opacity:.85}svg .dot.champion{fill:#d53f8c;stroke:#702459;stroke-width:2}
svg .step{fill:none;stroke:#d53f8c;stroke-width:2}svg .cross{stroke:#c53030;stroke-width:2.5}
svg .ring{fill:#fff;stroke:#718096;stroke-width:2}
.graphbox{overflow-x:auto}.graphbox svg.graph{min-width:960px}
svg.wide{width:100%;min-width:720px;margin-bottom:8px}
svg .node rect{fill:#fff;stroke:#a0aec0;stroke-dasharray:4 3}
svg .node.serving rect{fill:#f0fff4;stroke:#2f855a;stroke-width:2;stroke-dasharray:none}
svg .node .kind{font-size:10px;fill:#718096;text-transform:uppercase;letter-spacing:.4px}
svg .node text{font-size:12px}
svg .edge{fill:none;stroke:#a0aec0;stroke-width:1.5;stroke-dasharray:5 4}
svg .edge.serving{stroke:#2f855a;stroke-width:3;stroke-dasharray:none}
svg .legend{font-size:11px;fill:#4a5568}
footer{color:#718096;text-align:center;padding:16px}
@media (min-width:900px){nav{position:sticky;top:0}}
@media (max-width:600px){header.top,nav{padding-left:12px;padding-right:12px}
main{padding:4px 12px 32px}.card{padding:10px}h2{font-size:18px}.stat b{font-size:22px}
.charts{grid-template-columns:1fr}
.graphbox svg.graph,.graphbox svg.wide{max-width:none;width:auto}}
"""
# Sorts a table by a header click (numbers as numbers, empty cells last) and filters its rows;
# the fragment `#sort=<table>:<column>:<asc|desc>&filter=<table>:<text>` sets both on load, so a
# link shows a sorted page. Without the script the page is the same tables, unsorted.
SCRIPT = """
(function(){
function num(t){return t!==""&&isFinite(t)?parseFloat(t):null}
function cell(r,i){return r.cells[i]?r.cells[i].textContent.trim():""}
function cmp(a,b){if(a==="")return b===""?0:1;if(b==="")return -1;var x=num(a),y=num(b);
if(x!==null&&y!==null)return x-y;return a.localeCompare(b,undefined,{numeric:true})}
function sort(t,i,dir){var b=t.tBodies[0],rows=[].slice.call(b.rows),s=dir==="desc"?-1:1;
rows.sort(function(p,q){var x=cell(p,i),y=cell(q,i);return x===""||y===""?cmp(x,y):
s*cmp(x,y)});rows.forEach(function(r){b.appendChild(r)});
[].forEach.call(t.tHead.rows[0].cells,function(h,j){if(j===i)h.setAttribute("aria-sort",
dir==="desc"?"descending":"ascending");else h.removeAttribute("aria-sort")})}
function filter(t,q){q=q.toLowerCase();[].forEach.call(t.tBodies[0].rows,function(r){
r.hidden=q!==""&&r.textContent.toLowerCase().indexOf(q)<0})}
function column(t,key){var hs=t.tHead.rows[0].cells;for(var j=0;j<hs.length;j++)
if(hs[j].getAttribute("data-key")===key)return j;return -1}
var tables=document.querySelectorAll("table.sortable");
[].forEach.call(tables,function(t){[].forEach.call(t.tHead.rows[0].cells,function(h,j){
h.tabIndex=0;function go(){var d=h.getAttribute("aria-sort")==="ascending"?"desc":"asc";
sort(t,j,d);try{history.replaceState(null,"","#sort="+encodeURIComponent(t.id+":"+
h.getAttribute("data-key")+":"+d))}catch(e){}}
h.addEventListener("click",go);h.addEventListener("keydown",function(e){
if(e.key==="Enter"||e.key===" "){e.preventDefault();go()}})})});
[].forEach.call(document.querySelectorAll("input.filter"),function(f){
var t=document.getElementById(f.getAttribute("data-table"));f.hidden=false;
f.addEventListener("input",function(){filter(t,f.value)})});
location.hash.slice(1).split("&").forEach(function(p){var k=p.indexOf("=");if(k<0)return;
var name=p.slice(0,k),v=decodeURIComponent(p.slice(k+1)),a=v.indexOf(":"),
t=document.getElementById(v.slice(0,a)),rest=v.slice(a+1);if(a<0||!t)return;
if(name==="sort"){var z=rest.lastIndexOf(":"),j=column(t,rest.slice(0,z));
if(j>=0)sort(t,j,rest.slice(z+1))}
if(name==="filter"){var f=document.querySelector('input.filter[data-table="'+t.id+'"]');
if(f)f.value=rest;filter(t,rest)}});
})();
"""


def _digest(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


# Nothing may load, and only the page's own stylesheet and script apply, each allowed by its
# hash: a value that slipped past escaping could neither run a script nor inject a style, a
# form or a base URL. SVG presentation attributes are not styles and need no source.
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src 'sha256-{_digest(CSS)}'; "
    f"script-src 'sha256-{_digest(SCRIPT)}'; base-uri 'none'; form-action 'none'"
)
# Browsers ignore frame-ancestors in a <meta> policy: it is only in the served header.
CONTENT_SECURITY_POLICY_HEADER = f"{CONTENT_SECURITY_POLICY}; frame-ancestors 'none'"
