//! The GTK screens the perception tests measure, and walking through them.

use serde_json::Value;

use super::XSession;

/// zenity dialogs: (name, window title, arguments).
pub const ZENITY: &[(&str, &str, &[&str])] = &[
    ("zenity entry", "Rename", &["--entry", "--title", "Rename", "--text", "New name:", "--entry-text", "draft.txt"]),
    (
        "zenity question",
        "Delete file?",
        &["--question", "--title", "Delete file?", "--text", "Delete the selected file?"],
    ),
    (
        "zenity forms",
        "New contact",
        &[
            "--forms",
            "--title",
            "New contact",
            "--text",
            "Add a contact",
            "--add-entry",
            "First name",
            "--add-entry",
            "Last name",
            "--add-password",
            "PIN",
            "--add-calendar",
            "Birthday",
            "--add-combo",
            "Group",
            "--combo-values",
            "Family|Friends|Work",
        ],
    ),
    (
        "zenity checklist",
        "Packages",
        &[
            "--list",
            "--checklist",
            "--title",
            "Packages",
            "--width",
            "420",
            "--height",
            "360",
            "--column",
            "Pick",
            "--column",
            "Name",
            "--column",
            "Size",
            "TRUE",
            "curl",
            "1 MB",
            "FALSE",
            "git",
            "10 MB",
            "TRUE",
            "vim",
            "3 MB",
            "FALSE",
            "zsh",
            "2 MB",
        ],
    ),
    ("zenity scale", "Volume", &["--scale", "--title", "Volume", "--text", "Output volume", "--value", "40"]),
    ("zenity password", "Log in", &["--password", "--username", "--title", "Log in"]),
    ("zenity file chooser", "Open a report", &["--file-selection", "--title", "Open a report"]),
];

/// zenity dialogs with Korean text (shown under `LANG=ko_KR.UTF-8`, so zenity's and GTK's own
/// words are Korean too), mixed Hangul, Latin and digits among them.
pub const ZENITY_KOREAN: &[(&str, &str, &[&str])] = &[
    (
        "zenity forms ko",
        "계정을 만드세요",
        &[
            "--forms",
            "--title",
            "계정을 만드세요",
            "--text",
            "새 계정",
            "--add-entry",
            "이름",
            "--add-entry",
            "도시",
            "--add-password",
            "비밀번호",
            "--add-combo",
            "그룹",
            "--combo-values",
            "가족|친구|회사",
        ],
    ),
    ("zenity question ko", "파일 삭제", &["--question", "--title", "파일 삭제", "--text", "선택한 파일을 삭제할까요?"]),
    (
        "zenity entry ko",
        "이름 바꾸기",
        &["--entry", "--title", "이름 바꾸기", "--text", "새 이름:", "--entry-text", "초안.txt"],
    ),
    (
        "zenity mixed ko",
        "문서 저장",
        &[
            "--forms",
            "--title",
            "문서 저장",
            "--text",
            "파일 저장 (Ctrl+S)",
            "--add-entry",
            "2026년 12월 1일",
            "--add-entry",
            "PDF 파일 이름",
            "--add-entry",
            "사본 3개",
        ],
    ),
    (
        "zenity checklist ko",
        "꾸러미 고르기",
        &[
            "--list",
            "--checklist",
            "--title",
            "꾸러미 고르기",
            "--text",
            "설치할 꾸러미를 고르세요",
            "--width",
            "420",
            "--height",
            "360",
            "--column",
            "선택",
            "--column",
            "이름",
            "--column",
            "크기",
            "TRUE",
            "편집기",
            "1 MB",
            "FALSE",
            "계산기",
            "10 MB",
        ],
    ),
    ("zenity scale ko", "음량", &["--scale", "--title", "음량", "--text", "출력 음량", "--value", "40"]),
    ("zenity password ko", "로그인", &["--password", "--username", "--title", "로그인"]),
    ("zenity info ko", "알림", &["--info", "--title", "알림", "--text", "저장했습니다. 바뀐 파일 3개"]),
    ("zenity file chooser ko", "보고서 열기", &["--file-selection", "--title", "보고서 열기"]),
];

/// Open each zenity dialog in turn and call `f(session, AT-SPI tree, window title, name)`
/// while it is on screen.
pub fn each_zenity_dialog(s: &mut XSession, f: impl FnMut(&XSession, &Value, &str, &str)) {
    each_dialog_of(s, ZENITY, &[], f)
}

/// [`each_zenity_dialog`] over other dialogs, with more environment (`LANG`…).
pub fn each_dialog_of(
    s: &mut XSession,
    dialogs: &[(&str, &str, &[&str])],
    env: &[(&str, &str)],
    mut f: impl FnMut(&XSession, &Value, &str, &str),
) {
    for (name, title, args) in dialogs {
        let pid = s.spawn_with("zenity", args, env);
        s.wait_for_window(title);
        let tree = s.wait_for_app("zenity", 5);
        f(s, &tree, title, name);
        s.kill(pid);
        s.wait_until("the dialog to close", std::time::Duration::from_secs(30), |s| {
            !s.windows().iter().any(|w| w["title"].as_str() == Some(title))
        });
    }
}

/// Show gtk3-widget-factory's three pages in turn (the app is starting or running) and
/// call `f(session, AT-SPI tree, "LABEL Page N")` on each.
pub fn each_widget_factory_page(s: &XSession, label: &str, mut f: impl FnMut(&XSession, &Value, &str)) {
    s.wait_for_window("gtk3-widget-factory");
    s.wait_for_app("gtk3-widget-factory", 100);
    for page in ["Page 1", "Page 2", "Page 3"] {
        s.activate("gtk3-widget-factory", "radio button", page);
        s.wait_for_stable_screen();
        // Some widgets (icon views) create their accessible children only when first asked,
        // and not all at once: ask until two answers agree.
        let tree = s.settled_atspi("gtk3-widget-factory");
        f(s, &tree, &format!("{label} {page}"));
    }
}
