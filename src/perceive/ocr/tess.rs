//! Tesseract (5.x) as a second line reader, for the scripts the PP-OCR model's dictionary
//! lacks (Hangul): `libtesseract.so.5` is loaded at run time through its C API, so markpilot
//! builds and runs without it, and says what to install when a language needs it.
//!
//! One handle per detector, set up once (`kor+eng`, LSTM, one text line per image) and fed
//! each line crop scaled up to the text height Tesseract reads best; the answer is taken
//! symbol by symbol (text, box, confidence), with a space where a word starts, so it is a
//! [`Reading`] like PP-OCR's and the line is split into words the same way.
//!
//! The one module of markpilot with `unsafe` code: the calls into the C library.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_float, c_int, c_void};
use std::path::{Path, PathBuf};

use image::RgbaImage;
use image::imageops::{self, FilterType};
use thiserror::Error;

use super::rec::Reading;

/// Where Debian and most distributions keep the trained data, newest first.
const DATA_DIRS: &[&str] = &[
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
];

const LIBRARIES: &[&str] = &["libtesseract.so.5", "libtesseract.so"];

/// What Debian users install to read a language with Tesseract.
pub fn install_hint(lang: &str) -> String {
    format!("install Tesseract and its data (Debian/Ubuntu: `apt install libtesseract5 tesseract-ocr-{lang}`)")
}

#[derive(Debug, Clone, PartialEq, Error)]
pub enum TessError {
    #[error("Tesseract is not installed (no {}); {}", LIBRARIES.join(" or "), install_hint(.lang))]
    NoLibrary { lang: String },
    #[error("{path} is not a usable Tesseract library: {detail}; {}", install_hint(.lang))]
    BadLibrary { path: String, detail: String, lang: String },
    #[error("Tesseract has no {lang}.traineddata (looked in {looked}); {}", install_hint(.lang))]
    NoData { lang: String, looked: String },
    #[error("{path} is not a usable Tesseract model: {detail}; reinstall it ({})", install_hint(.lang))]
    BadData { path: PathBuf, detail: String, lang: String },
    #[error("Tesseract could not start with {langs} from {dir}; {}", install_hint(.lang))]
    Init { langs: String, dir: PathBuf, lang: String },
}

// The parts of Tesseract's C API (tesseract/capi.h) used here.
type Api = *mut c_void;
type Iter = *mut c_void;
const PSM_SINGLE_LINE: c_int = 7;
const OEM_LSTM_ONLY: c_int = 1;
const RIL_WORD: c_int = 3;
const RIL_SYMBOL: c_int = 4;

struct Functions {
    create: unsafe extern "C" fn() -> Api,
    delete: unsafe extern "C" fn(Api),
    init2: unsafe extern "C" fn(Api, *const c_char, *const c_char, c_int) -> c_int,
    set_variable: unsafe extern "C" fn(Api, *const c_char, *const c_char) -> c_int,
    set_psm: unsafe extern "C" fn(Api, c_int),
    set_image: unsafe extern "C" fn(Api, *const u8, c_int, c_int, c_int, c_int),
    set_resolution: unsafe extern "C" fn(Api, c_int),
    recognize: unsafe extern "C" fn(Api, *mut c_void) -> c_int,
    iterator: unsafe extern "C" fn(Api) -> Iter,
    iter_delete: unsafe extern "C" fn(Iter),
    iter_next: unsafe extern "C" fn(Iter, c_int) -> c_int,
    iter_text: unsafe extern "C" fn(Iter, c_int) -> *mut c_char,
    iter_confidence: unsafe extern "C" fn(Iter, c_int) -> c_float,
    iter_page: unsafe extern "C" fn(Iter) -> *mut c_void,
    page_box: unsafe extern "C" fn(*mut c_void, c_int, *mut c_int, *mut c_int, *mut c_int, *mut c_int) -> c_int,
    page_begins: unsafe extern "C" fn(*mut c_void, c_int) -> c_int,
    delete_text: unsafe extern "C" fn(*mut c_char),
    clear: unsafe extern "C" fn(Api),
}

struct Library {
    // Kept loaded for as long as the functions are used.
    _lib: libloading::Library,
    f: Functions,
    /// `omp_set_max_active_levels` of the OpenMP runtime Tesseract links to, if it does.
    omp_threads: Option<unsafe extern "C" fn(c_int)>,
}

/// The library: `MARKPILOT_TESSERACT` (a path) when set, else the system's.
fn load_library(lang: &str) -> Result<Library, TessError> {
    let explicit = std::env::var("MARKPILOT_TESSERACT").ok().filter(|p| !p.is_empty());
    if let Some(path) = &explicit {
        // SAFETY: as below.
        return match unsafe { libloading::Library::new(path) } {
            Ok(lib) => functions(lib, path, lang),
            Err(e) => Err(TessError::BadLibrary { path: path.clone(), detail: e.to_string(), lang: lang.into() }),
        };
    }
    let mut last = None;
    for name in LIBRARIES {
        // SAFETY: loading Tesseract runs its static initialisers, which have no preconditions.
        match unsafe { libloading::Library::new(name) } {
            Ok(lib) => return functions(lib, name, lang),
            Err(e) => last = Some(e),
        }
    }
    tracing::debug!("no Tesseract library: {last:?}");
    Err(TessError::NoLibrary { lang: lang.into() })
}

fn functions(lib: libloading::Library, name: &str, lang: &str) -> Result<Library, TessError> {
    fn get<T: Copy>(lib: &libloading::Library, symbol: &str, path: &str, lang: &str) -> Result<T, TessError> {
        // SAFETY: every symbol asked for has the C signature of its field in Tesseract 4/5
        // (capi.h); the library stays loaded beside the functions.
        unsafe { lib.get::<T>(symbol.as_bytes()) }.map(|s| *s).map_err(|e| TessError::BadLibrary {
            path: path.into(),
            detail: format!("no {symbol} ({e})"),
            lang: lang.into(),
        })
    }
    macro_rules! sym {
        ($s:literal) => {
            get(&lib, $s, name, lang)?
        };
    }
    let f = Functions {
        create: sym!("TessBaseAPICreate"),
        delete: sym!("TessBaseAPIDelete"),
        init2: sym!("TessBaseAPIInit2"),
        set_variable: sym!("TessBaseAPISetVariable"),
        set_psm: sym!("TessBaseAPISetPageSegMode"),
        set_image: sym!("TessBaseAPISetImage"),
        set_resolution: sym!("TessBaseAPISetSourceResolution"),
        recognize: sym!("TessBaseAPIRecognize"),
        iterator: sym!("TessBaseAPIGetIterator"),
        iter_delete: sym!("TessResultIteratorDelete"),
        iter_next: sym!("TessResultIteratorNext"),
        iter_text: sym!("TessResultIteratorGetUTF8Text"),
        iter_confidence: sym!("TessResultIteratorConfidence"),
        iter_page: sym!("TessResultIteratorGetPageIterator"),
        page_box: sym!("TessPageIteratorBoundingBox"),
        page_begins: sym!("TessPageIteratorIsAtBeginningOf"),
        delete_text: sym!("TessDeleteText"),
        clear: sym!("TessBaseAPIClear"),
    };
    let omp_threads = get(&lib, "omp_set_max_active_levels", name, lang).ok();
    Ok(Library { _lib: lib, f, omp_threads })
}

/// The folder holding `LANG.traineddata`: `TESSDATA_PREFIX`, the configured folder, else the
/// usual places.
pub fn find_data(explicit: Option<&Path>, lang: &str) -> Result<PathBuf, TessError> {
    let file = format!("{lang}.traineddata");
    let mut dirs: Vec<PathBuf> = Vec::new();
    match explicit {
        Some(d) => dirs.push(d.to_path_buf()),
        None => {
            if let Some(p) = std::env::var_os("TESSDATA_PREFIX").filter(|p| !p.is_empty()) {
                let p = PathBuf::from(p);
                dirs.push(p.join("tessdata"));
                dirs.push(p);
            }
            dirs.extend(DATA_DIRS.iter().map(PathBuf::from));
        }
    }
    dirs.iter().find(|d| d.join(&file).is_file()).cloned().ok_or_else(|| TessError::NoData {
        lang: lang.into(),
        looked: dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "),
    })
}

/// A reader markpilot uses from the system rather than fetching it (for `models list`).
#[derive(Debug, Clone, PartialEq)]
pub struct SystemModel {
    pub name: String,
    pub lang: String,
    pub description: String,
    /// The Debian package it comes from.
    pub package: String,
    /// Where its data is, when found and sound.
    pub path: Option<PathBuf>,
    /// Why it cannot be used, when it cannot.
    pub problem: Option<String>,
}

/// Tesseract's Korean and English data as this system has them.
pub fn system_models(data_dir: Option<&Path>) -> Vec<SystemModel> {
    let library = load_library("kor").err().map(|e| e.to_string());
    [("kor", "Korean"), ("eng", "English, for the Latin words of Korean lines")]
        .into_iter()
        .map(|(lang, what)| {
            let found = find_data(data_dir, lang).map(|d| d.join(format!("{lang}.traineddata")));
            let checked = found.and_then(|p| check_data(&p, lang).map(|()| p));
            let problem = library.clone().or_else(|| checked.as_ref().err().map(|e| e.to_string()));
            SystemModel {
                name: format!("tesseract-{lang}"),
                lang: lang.into(),
                description: format!("Tesseract LSTM text recognition, {what} (reads the lines PP-OCR cannot)"),
                package: format!("tesseract-ocr-{lang}"),
                path: checked.ok(),
                problem,
            }
        })
        .collect()
}

/// Check a `.traineddata` file's container before Tesseract reads it (Tesseract aborts the
/// process on some broken files): a count of entries, one offset per entry (-1 for none),
/// rising and inside the file, and an LSTM model among them.
pub fn check_data(path: &Path, lang: &str) -> Result<(), TessError> {
    let bad = |detail: String| TessError::BadData { path: path.to_path_buf(), detail, lang: lang.into() };
    let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot be read ({e})")))?;
    check_container(&bytes).map_err(bad)
}

/// Index of the LSTM network among a traineddata file's entries (TESSDATA_LSTM).
const LSTM_ENTRY: usize = 17;

fn check_container(bytes: &[u8]) -> Result<(), String> {
    let size = bytes.len() as u64;
    let count = bytes.get(..4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).ok_or("it is empty")?;
    if !(LSTM_ENTRY as u32 + 1..=64).contains(&count) {
        return Err(format!("its header says {count} entries (a Tesseract 4/5 model has 18 to 64)"));
    }
    let table_end = 4 + 8 * count as u64;
    if size < table_end {
        return Err("it is cut short in its table of entries".into());
    }
    let mut offsets = Vec::new();
    for i in 0..count as usize {
        let at = 4 + 8 * i;
        let v = i64::from_le_bytes(bytes[at..at + 8].try_into().map_err(|_| "bad table")?);
        if v == -1 {
            offsets.push(None);
            continue;
        }
        if v < table_end as i64 || v as u64 > size {
            return Err(format!("entry {i} starts at byte {v}, outside the file's {size} bytes (cut short?)"));
        }
        offsets.push(Some(v as u64));
    }
    let present: Vec<u64> = offsets.iter().flatten().copied().collect();
    if present.windows(2).any(|w| w[1] < w[0]) {
        return Err("its entries are out of order".into());
    }
    match offsets[LSTM_ENTRY] {
        None => Err("it holds no LSTM model (a Tesseract 3 file?)".into()),
        Some(start) => {
            // The LSTM entry ends where the next present entry starts (or at the end).
            let end = offsets[LSTM_ENTRY + 1..].iter().flatten().next().copied().unwrap_or(size);
            if end <= start + 64 {
                return Err("its LSTM model is empty".into());
            }
            Ok(())
        }
    }
}

/// Text height (pixels) crops are scaled to: Tesseract's LSTM reads best with capitals of
/// 20–40 px; screen text is 8–16.
const TARGET_HEIGHT: u32 = 40;

/// Background added around the scaled crop (Tesseract needs some white space).
const BORDER: u32 = 10;

pub struct Tesseract {
    lib: Library,
    api: Api,
    pub langs: String,
}

// SAFETY: the handle is used by one thread at a time (`&mut self`); Tesseract keeps no
// thread-local state between calls on a handle.
unsafe impl Send for Tesseract {}

impl Tesseract {
    /// Start Tesseract with `langs` (`kor+eng`); every language's data must be in one folder.
    pub fn open(langs: &[&str], data_dir: Option<&Path>) -> Result<Self, TessError> {
        let first = langs.first().copied().unwrap_or("eng");
        let lib = load_library(first)?;
        let dir = find_data(data_dir, first)?;
        for lang in langs {
            let path = dir.join(format!("{lang}.traineddata"));
            if !path.is_file() {
                return Err(TessError::NoData { lang: lang.to_string(), looked: dir.display().to_string() });
            }
            check_data(&path, lang)?;
        }
        let joined = langs.join("+");
        let init = |dir: &Path| TessError::Init { langs: joined.clone(), dir: dir.to_path_buf(), lang: first.into() };
        let c_dir = CString::new(dir.to_string_lossy().as_bytes()).map_err(|_| init(&dir))?;
        let c_langs = CString::new(joined.as_bytes()).map_err(|_| init(&dir))?;
        // SAFETY: plain calls into the loaded library with valid C strings; the handle is
        // deleted in Drop (or here when Init fails).
        unsafe {
            let api = (lib.f.create)();
            if api.is_null() {
                return Err(init(&dir));
            }
            if (lib.f.init2)(api, c_dir.as_ptr(), c_langs.as_ptr(), OEM_LSTM_ONLY) != 0 {
                (lib.f.delete)(api);
                return Err(init(&dir));
            }
            (lib.f.set_psm)(api, PSM_SINGLE_LINE);
            // No dictionary correction: labels are not prose ("Ctrl+S", file names).
            for (k, v) in [("load_system_dawg", "0"), ("load_freq_dawg", "0"), ("debug_file", "/dev/null")] {
                let (k, v) = (CString::new(k).unwrap_or_default(), CString::new(v).unwrap_or_default());
                (lib.f.set_variable)(api, k.as_ptr(), v.as_ptr());
            }
            Ok(Tesseract { lib, api, langs: joined })
        }
    }

    /// Read one line crop (as [`super::LineCrop`] renders it). Character positions are in
    /// the crop's pixels, confidences 0–1.
    pub fn read_line(&mut self, crop: &RgbaImage) -> Reading {
        let (w, h) = crop.dimensions();
        if w == 0 || h == 0 {
            return Reading::default();
        }
        let scale = (TARGET_HEIGHT as f32 / h as f32).clamp(1.0, 6.0);
        let (sw, sh) = (((w as f32 * scale).round() as u32).max(1), ((h as f32 * scale).round() as u32).max(1));
        let scaled = imageops::resize(crop, sw, sh, FilterType::CatmullRom);
        // Grey, dark text on light: Tesseract's LSTM is trained on that.
        let (gw, gh) = (sw + 2 * BORDER, sh + 2 * BORDER);
        let mut grey = vec![0u8; (gw * gh) as usize];
        let luma = |p: &image::Rgba<u8>| ((p[0] as u32 * 299 + p[1] as u32 * 587 + p[2] as u32 * 114) / 1000) as u8;
        let bg = luma(crop.get_pixel(0, 0));
        let invert = bg < 128;
        let fill = if invert { 255 - bg } else { bg };
        grey.fill(fill);
        for (x, y, p) in scaled.enumerate_pixels() {
            let v = luma(p);
            grey[((y + BORDER) * gw + x + BORDER) as usize] = if invert { 255 - v } else { v };
        }
        let f = &self.lib.f;
        // Words: box (scaled pixels) and symbols with confidences.
        let mut words: Vec<Word> = Vec::new();
        // SAFETY: the image buffer outlives Recognize (Tesseract copies it in SetImage); the
        // iterator and each text are freed with the library's own functions.
        unsafe {
            // Debian's Tesseract is built with OpenMP, whose thread team costs five times
            // the work on a line this small: no parallel region is made active (its code
            // names its own thread counts, so only this setting or OMP_THREAD_LIMIT holds).
            if let Some(max_active_levels) = self.lib.omp_threads {
                max_active_levels(0);
            }
            (f.set_image)(self.api, grey.as_ptr(), gw as c_int, gh as c_int, 1, gw as c_int);
            (f.set_resolution)(self.api, 96);
            if (f.recognize)(self.api, std::ptr::null_mut()) != 0 {
                (f.clear)(self.api);
                return Reading::default();
            }
            let it = (f.iterator)(self.api);
            if !it.is_null() {
                let page = (f.iter_page)(it);
                loop {
                    let text = (f.iter_text)(it, RIL_SYMBOL);
                    if !text.is_null() {
                        let s = CStr::from_ptr(text).to_string_lossy().into_owned();
                        (f.delete_text)(text);
                        let conf = ((f.iter_confidence)(it, RIL_SYMBOL) / 100.0).clamp(0.0, 1.0);
                        let (mut l, mut t, mut r, mut b) = (0, 0, 0, 0);
                        if (f.page_begins)(page, RIL_WORD) != 0 || words.is_empty() {
                            // The word's box comes from its ink (its symbols' boxes from
                            // the network's time steps, which stray).
                            if (f.page_box)(page, RIL_WORD, &mut l, &mut t, &mut r, &mut b) != 0 {
                                words.push(((l, r), Vec::new()));
                            }
                        }
                        if let Some(word) = words.last_mut() {
                            word.1.push((s, conf));
                        }
                    }
                    if (f.iter_next)(it, RIL_SYMBOL) == 0 {
                        break;
                    }
                }
                (f.iter_delete)(it);
            }
            (f.clear)(self.api);
        }
        // An icon at either end of the line is read as a lone sign ("©", "+"): not text.
        let lone_sign = |w: &Word| {
            w.1.len() == 1 && w.1[0].0.chars().all(|c| !c.is_alphanumeric() && !".,:;!?)]}%'\"…-".contains(c))
        };
        while words.last().is_some_and(lone_sign) {
            words.pop();
        }
        while words.first().is_some_and(lone_sign) {
            words.remove(0);
        }
        let back = |x: f32| ((x - BORDER as f32) / scale).clamp(0.0, w as f32);
        Reading::from_chars(lay_out(&words, 0.16 * sh as f32, back))
    }
}

/// A word Tesseract read: its left and right edge (scaled pixels) and its symbols with their
/// confidences.
type Word = ((c_int, c_int), Vec<(String, f32)>);

/// Characters with their positions from Tesseract's words: each word's symbols spread over
/// its box (Hangul syllables are of one width), a space between words that a gap of
/// `space` scaled pixels separates (Tesseract starts a word at many Hangul syllables).
fn lay_out(words: &[Word], space: f32, back: impl Fn(f32) -> f32) -> Vec<(String, f32, f32)> {
    let mut chars: Vec<(String, f32, f32)> = Vec::new();
    let mut prev_right: Option<c_int> = None;
    for ((l, r), symbols) in words {
        if symbols.is_empty() {
            continue;
        }
        if let Some(p) = prev_right
            && (l - p) as f32 >= space
        {
            let conf = symbols.iter().map(|s| s.1).fold(1.0f32, f32::min);
            chars.push((" ".into(), back((p + l) as f32 / 2.0), conf));
        }
        // Symbols take the width of their kind: a Hangul syllable (or a CJK character) a
        // square, a Latin letter or digit about half of one, brackets and stops less.
        let width = |s: &str| match s.chars().next() {
            Some(c) if super::languages::is_hangul(c) || super::languages::is_han(c) => 1.0,
            Some(c) if "()[]{}.,:;'|!il".contains(c) => 0.3,
            _ => 0.55,
        };
        let total: f32 = symbols.iter().map(|(s, _)| width(s)).sum();
        let per = (r - l).max(1) as f32 / total.max(0.1);
        let mut at = *l as f32;
        for (s, conf) in symbols {
            let w = width(s) * per;
            chars.push((s.clone(), back(at + w / 2.0), *conf));
            at += w;
        }
        prev_right = Some(prev_right.map_or(*r, |p| p.max(*r)));
    }
    chars
}

impl Drop for Tesseract {
    fn drop(&mut self) {
        // SAFETY: the handle came from TessBaseAPICreate and is deleted once.
        unsafe { (self.lib.f.delete)(self.api) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(entries: &[i64], size: usize) -> Vec<u8> {
        let mut b = (entries.len() as u32).to_le_bytes().to_vec();
        for e in entries {
            b.extend(e.to_le_bytes());
        }
        b.resize(size.max(b.len()), 7);
        b
    }

    #[test]
    fn a_traineddata_container_is_checked_before_tesseract_sees_it() {
        let table = 4 + 8 * 24;
        let mut entries = vec![-1i64; 24];
        entries[0] = table as i64;
        entries[LSTM_ENTRY] = table as i64 + 100;
        entries[20] = table as i64 + 5000;
        assert_eq!(check_container(&container(&entries, table + 6000)), Ok(()));
        // Cut short: the last entry starts past the end.
        let e = check_container(&container(&entries, table + 3000)).unwrap_err();
        assert!(e.contains("outside the file"), "{e}");
        // No LSTM network.
        let mut old = entries.clone();
        old[LSTM_ENTRY] = -1;
        assert!(check_container(&container(&old, table + 6000)).unwrap_err().contains("no LSTM"));
        // Garbage and empty files.
        assert!(check_container(b"").unwrap_err().contains("empty"));
        assert!(check_container(&[0xff; 100]).unwrap_err().contains("entries"));
        assert!(check_container(&container(&entries, 0)[..50]).unwrap_err().contains("cut short"));
        let mut shuffled = entries.clone();
        shuffled.swap(0, 20);
        assert!(check_container(&container(&shuffled, table + 6000)).unwrap_err().contains("out of order"));
    }
}
