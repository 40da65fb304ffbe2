// Ground truth of the page as shown: the interactive elements a person could act on and the
// visible text and images, in device pixels, visible part only (clipped to the viewport and
// to scrolling ancestors; elements covered by something else are left out). Run through
// WebDriver's execute/sync: returns {elements: [...], texts: [...]}.
const dpr = window.devicePixelRatio || 1;
const VW = document.documentElement.clientWidth, VH = document.documentElement.clientHeight;
const SELECTOR = [
  "a[href]", "button", "input:not([type=hidden])", "select", "textarea", "summary", "[role=button]",
  "[role=link]", "[role=checkbox]", "[role=radio]", "[role=tab]", "[role=menuitem]", "[role=menuitemcheckbox]",
  "[role=menuitemradio]", "[role=option]", "[role=switch]", "[role=slider]", "[role=combobox]", "[role=textbox]",
  "[role=searchbox]", "[role=spinbutton]", "[role=treeitem]", "[tabindex]:not([tabindex='-1'])",
  "[contenteditable='true']", "[contenteditable='']", "[onclick]", "label[for]",
].join(",");

function inter(a, b) {
  const x0 = Math.max(a[0], b[0]), y0 = Math.max(a[1], b[1]);
  const x1 = Math.min(a[0] + a[2], b[0] + b[2]), y1 = Math.min(a[1] + a[3], b[1] + b[3]);
  return [x0, y0, Math.max(0, x1 - x0), Math.max(0, y1 - y0)];
}

// The part of a rect not clipped away by the viewport and by ancestors that clip overflow.
function clipped(el, r) {
  let box = inter(r, [0, 0, VW, VH]);
  for (let p = el.parentElement; p && p !== document.documentElement; p = p.parentElement) {
    const s = getComputedStyle(p);
    if (s.overflowX !== "visible" || s.overflowY !== "visible") {
      const pr = p.getBoundingClientRect();
      box = inter(box, [pr.left + p.clientLeft, pr.top + p.clientTop, p.clientWidth || pr.width,
                        p.clientHeight || pr.height]);
    }
    if (s.position === "fixed") break;
  }
  return box;
}

function transparent(el) {
  for (let p = el; p && p.nodeType === 1; p = p.parentElement) {
    const s = getComputedStyle(p);
    if (parseFloat(s.opacity) < 0.05 || s.visibility === "hidden" || s.display === "none") return true;
  }
  return false;
}

// Is what shows at some point of `box` the element itself (or part of it)?
function onTop(el, box) {
  const pts = [[0.5, 0.5], [0.25, 0.5], [0.75, 0.5], [0.5, 0.25], [0.5, 0.75]];
  for (const [fx, fy] of pts) {
    const x = box[0] + box[2] * fx, y = box[1] + box[3] * fy;
    const hit = document.elementFromPoint(x, y);
    if (!hit) continue;
    if (hit === el || el.contains(hit)) return true;
    // A label wrapping or naming the control, or the control's own shadow parts.
    if (hit.tagName === "LABEL" && (hit.control === el || hit.contains(el))) return true;
    if (el.tagName === "LABEL" && el.control && (hit === el.control)) return true;
  }
  return false;
}

function roleOf(el) {
  const r = el.getAttribute("role");
  const tag = el.tagName.toLowerCase();
  if (r) return { button: "push button", checkbox: "check box", radio: "radio button", tab: "page tab",
                  menuitem: "menu item", menuitemcheckbox: "check menu item", menuitemradio: "radio menu item",
                  option: "list item", switch: "switch", slider: "slider", combobox: "combo box",
                  textbox: "entry", searchbox: "entry", spinbutton: "spin button", treeitem: "tree item",
                  link: "link" }[r] || r;
  if (tag === "a") return "link";
  if (tag === "button" || tag === "summary") return "push button";
  if (tag === "select") return el.multiple || el.size > 1 ? "list box" : "combo box";
  if (tag === "textarea") return "text";
  if (tag === "label") return "label";
  if (tag === "input") {
    const t = (el.type || "text").toLowerCase();
    return { checkbox: "check box", radio: "radio button", range: "slider", number: "spin button",
             password: "password text", submit: "push button", button: "push button", reset: "push button",
             image: "push button", file: "push button", color: "push button", date: "date editor" }[t] || "entry";
  }
  if (el.isContentEditable) return "text";
  return "push button";
}

function nameOf(el) {
  const t = (el.getAttribute("aria-label") || el.innerText || el.value || el.placeholder || el.title || "");
  return String(t).replace(/\s+/g, " ").trim().slice(0, 80);
}

function visuallyHidden(el) {
  const r = el.getBoundingClientRect();
  const s = getComputedStyle(el);
  return transparent(el) || r.width < 2 || r.height < 2 || s.clip === "rect(0px, 0px, 0px, 0px)" ||
         s.clipPath === "inset(50%)";
}

const out = { elements: [], texts: [] };
const px = (b) => [Math.round(b[0] * dpr), Math.round(b[1] * dpr), Math.round(b[2] * dpr), Math.round(b[3] * dpr)];
const area = VW * VH;
const seen = new Set();
for (const el of document.querySelectorAll(SELECTOR)) {
  // A label counts only when it stands for a control that is itself hidden (toggle
  // buttons drawn from a label over a hidden input).
  if (el.tagName === "LABEL" && !(el.control && visuallyHidden(el.control))) continue;
  if (el.tagName === "INPUT" && visuallyHidden(el)) continue;
  if (transparent(el)) continue;
  const rects = Array.from(el.getClientRects()).filter((r) => r.width > 0 && r.height > 0);
  if (!rects.length) continue;
  // An inline link broken over lines: its first piece that shows.
  let box = null;
  for (const r of (el.tagName === "A" && rects.length > 1 ? rects : [el.getBoundingClientRect()])) {
    const b = clipped(el, [r.left, r.top, r.width, r.height]);
    if (b[2] >= 3 && b[3] >= 3) { box = b; break; }
  }
  if (!box) continue;
  const tag = el.tagName.toLowerCase();
  if (box[2] * box[3] > 0.5 * area && !["textarea", "input", "select"].includes(tag)) continue;
  if (!onTop(el, box)) continue;
  const key = box.map(Math.round).join(",");
  if (seen.has(key)) continue;
  seen.add(key);
  const disabled = el.disabled || el.getAttribute("aria-disabled") === "true";
  out.elements.push({ bbox: px(box), role: roleOf(el), name: nameOf(el), enabled: !disabled });
}

// The page's own scroll bar.
const sbw = window.innerWidth - VW;
if (sbw > 0 && document.documentElement.scrollHeight > VH) {
  out.elements.push({ bbox: px([VW, 0, sbw, VH]), role: "scroll bar", name: "", enabled: true });
}

// Text: the line boxes of every visible text node, pieces of one line merged.
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
let last = null;
const flush = () => { if (last) out.texts.push({ bbox: px(last.box), role: "text" }); last = null; };
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  if (!n.textContent.trim()) continue;
  const parent = n.parentElement;
  if (!parent || ["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "OPTION"].includes(parent.tagName)) continue;
  if (transparent(parent)) continue;
  const range = document.createRange();
  range.selectNodeContents(n);
  for (const r of range.getClientRects()) {
    if (r.width < 1 || r.height < 1) continue;
    const box = clipped(parent, [r.left, r.top, r.width, r.height]);
    if (box[2] < 2 || box[3] < 2) continue;
    const hit = document.elementFromPoint(box[0] + box[2] / 2, box[1] + box[3] / 2);
    if (!hit || !(hit === parent || parent.contains(hit) || hit.contains(parent))) continue;
    if (last && Math.abs(last.box[1] - box[1]) <= 2 && Math.abs(last.box[3] - box[3]) <= 3 &&
        box[0] - (last.box[0] + last.box[2]) <= 2 && box[0] >= last.box[0]) {
      const x1 = Math.max(last.box[0] + last.box[2], box[0] + box[2]);
      last.box = [last.box[0], Math.min(last.box[1], box[1]), x1 - last.box[0], Math.max(last.box[3], box[3])];
    } else {
      flush();
      last = { box };
    }
  }
}
flush();

// Pictures: images, icons, canvases, videos.
for (const el of document.querySelectorAll("img, svg, canvas, video, picture, [role=img]")) {
  if (el.tagName.toLowerCase() === "svg" && el.parentElement && el.parentElement.closest("svg")) continue;
  if (transparent(el)) continue;
  const r = el.getBoundingClientRect();
  const box = clipped(el, [r.left, r.top, r.width, r.height]);
  if (box[2] < 3 || box[3] < 3 || !onTop(el, box)) continue;
  out.texts.push({ bbox: px(box), role: "image" });
}
return out;
