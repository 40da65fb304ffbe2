//! The markpilot desktop app: a thin shell over the library. Commands (`commands.rs`) start
//! and steer runs and read recorded ones; the agent runs on its own thread and its events
//! reach the window as `agent-event`s (`events.rs`); a tray icon and a global shortcut
//! (Ctrl+Shift+Escape, X11) stop a run from anywhere.

mod commands;
pub mod events;
pub mod session;
pub mod settings;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use markpilot::capture::Target;
use tauri::menu::{Menu, MenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager};

use session::{Session, WindowControl};

/// What every command shares.
pub struct AppState {
    pub session: Mutex<Option<Session>>,
    /// `$XDG_CONFIG_HOME` (the settings file lives in its `markpilot/`).
    pub config_dir: PathBuf,
}

impl AppState {
    /// Pull the stop of the current run, if any.
    pub fn stop(&self) -> bool {
        match self.session.lock().ok().and_then(|s| s.as_ref().map(|s| s.stop.clone())) {
            Some(stop) => {
                stop.stop();
                true
            }
            None => false,
        }
    }
}

/// The main window, as the session sees it.
pub struct TauriWindow(pub AppHandle);

impl WindowControl for TauriWindow {
    fn hide_if_covering(&self, target: &Target) -> bool {
        let Some(w) = self.0.get_webview_window("main") else { return false };
        if !w.is_visible().unwrap_or(false) {
            return false;
        }
        let (Ok(pos), Ok(size)) = (w.outer_position(), w.outer_size()) else { return false };
        let covers = markpilot::capture::create_capturer().monitors().ok().is_some_and(|ms| {
            let m = match target {
                Target::Monitor(Some(i)) | Target::Region { monitor: Some(i), .. } => ms.iter().find(|m| m.index == *i),
                _ => ms.iter().find(|m| m.primary).or(ms.first()),
            };
            m.is_some_and(|m| {
                let (mx, my) = (m.physical_x as i64, m.physical_y as i64);
                let (mw, mh) = (m.physical_width as i64, m.physical_height as i64);
                let (wx, wy, ww, wh) = (pos.x as i64, pos.y as i64, size.width as i64, size.height as i64);
                wx < mx + mw && wx + ww > mx && wy < my + mh && wy + wh > my
            })
        });
        if !covers {
            return false;
        }
        let _ = w.hide();
        session::wait_for(Duration::from_secs(1), || !w.is_visible().unwrap_or(false));
        // The window manager unmaps it and the windows below repaint: let that happen.
        std::thread::sleep(Duration::from_millis(150));
        true
    }

    fn show(&self) {
        if let Some(w) = self.0.get_webview_window("main") {
            let _ = w.show();
        }
    }
}

fn config_dir() -> PathBuf {
    std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."))
}

pub fn run() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let state = AppState { session: Mutex::new(None), config_dir: config_dir() };
    let built = tauri::Builder::default()
        .manage(state)
        .setup(|app| {
            setup_tray(app.handle())?;
            setup_shortcut(app.handle());
            Ok(())
        })
        .on_window_event(|window, event| {
            if let tauri::WindowEvent::Destroyed = event {
                // Closing the window ends a run; nothing keeps acting unseen.
                window.app_handle().state::<AppState>().stop();
            }
        })
        .invoke_handler(tauri::generate_handler![
            commands::monitors,
            commands::settings_get,
            commands::settings_save,
            commands::key_set,
            commands::key_clear,
            commands::test_connection,
            commands::run_start,
            commands::run_replay,
            commands::run_confirm,
            commands::run_answer,
            commands::run_pause,
            commands::run_resume,
            commands::run_stop,
            commands::run_status,
            commands::runs_list,
            commands::run_open,
            commands::run_step_image,
            commands::run_export,
        ])
        .run(tauri::generate_context!());
    if let Err(e) = built {
        eprintln!("markpilot-app: {e}");
        std::process::exit(1);
    }
}

fn setup_tray(app: &AppHandle) -> tauri::Result<()> {
    let stop = MenuItem::with_id(app, "stop", "Stop the run", true, None::<&str>)?;
    let show = MenuItem::with_id(app, "show", "Show markpilot", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&stop, &show, &quit])?;
    let mut tray =
        TrayIconBuilder::with_id("markpilot").menu(&menu).tooltip("markpilot").on_menu_event(|app, event| match event
            .id
            .as_ref()
        {
            "stop" => {
                app.state::<AppState>().stop();
            }
            "show" => TauriWindow(app.clone()).show(),
            "quit" => {
                app.state::<AppState>().stop();
                app.exit(0);
            }
            _ => {}
        });
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    // No tray on this desktop (no status notifier host) is not fatal: the window and the
    // shortcut still stop a run.
    if let Err(e) = tray.build(app) {
        tracing::warn!("no tray icon: {e}");
    }
    Ok(())
}

/// Ctrl+Shift+Escape stops the run from anywhere (X11; Wayland has no global shortcuts).
fn setup_shortcut(app: &AppHandle) {
    use tauri_plugin_global_shortcut::{Code, GlobalShortcutExt, Modifiers, Shortcut, ShortcutState};
    let stop_key = Shortcut::new(Some(Modifiers::CONTROL | Modifiers::SHIFT), Code::Escape);
    let plugin = tauri_plugin_global_shortcut::Builder::new()
        .with_handler(move |app, shortcut, event| {
            if *shortcut == stop_key && event.state() == ShortcutState::Pressed {
                app.state::<AppState>().stop();
            }
        })
        .build();
    if let Err(e) = app.plugin(plugin) {
        tracing::warn!("no global shortcut: {e}");
        return;
    }
    if let Err(e) = app.global_shortcut().register(stop_key) {
        tracing::warn!("cannot register Ctrl+Shift+Escape: {e}");
    }
}
