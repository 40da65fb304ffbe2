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

/// Open each zenity dialog in turn and call `f(session, AT-SPI tree, window title, name)`
/// while it is on screen.
pub fn each_zenity_dialog(s: &mut XSession, mut f: impl FnMut(&XSession, &Value, &str, &str)) {
    for (name, title, args) in ZENITY {
        let pid = s.spawn("zenity", args);
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
