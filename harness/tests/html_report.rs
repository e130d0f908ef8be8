//! The HTML matrix report of real runs (both reference scenarios on every
//! QEMU, the ADUE hang diagnosed), opened in headless Chromium: the DOM it
//! builds has the grid, the verdicts and the henvcfg.ADUE change between
//! QEMU 8.0.2 and 9.2.0; screenshots at desktop and phone widths are the
//! right size and not blank.
//!
//! Chromium is Debian's `chromium` (scripts/setup.sh installs it), or the
//! binary named by HVHARNESS_CHROMIUM. Without it the test prints why and
//! checks the HTML text only.

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one Chromium run may take on a loaded machine.
const BROWSER_LIMIT: Duration = Duration::from_secs(120);

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HVHARNESS_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// Runs headless Chromium on `page` with `args`; its stdout. A fresh
/// profile, no network services, bounded in time, its whole process group
/// killed on timeout.
fn browse(browser: &Path, page: &Path, args: &[String]) -> String {
    let profile = tempfile::tempdir().expect("a profile directory");
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(args)
    .arg(format!("file://{}", page.display()))
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .process_group(0);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", browser.display()));
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    let stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let until = Instant::now() + BROWSER_LIMIT;
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting for chromium") {
            break s;
        }
        if Instant::now() > until {
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
            panic!("chromium {args:?} still running after {BROWSER_LIMIT:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Helpers it started (zygote, renderers) go with it.
    let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
    let out = reader.join().unwrap_or_default();
    assert!(status.success(), "chromium {args:?}: {status}");
    out
}

/// Width, height, and the share of pixels that are not the page background.
fn png_stats(path: &Path) -> (u32, u32, f64, usize) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("a bounded PNG")];
    let info = reader.next_frame(&mut buf).expect("a PNG frame");
    let channels = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(channels).collect();
    let inked = pixels
        .iter()
        .filter(|p| p[..3.min(p.len())].iter().any(|&c| c < 240))
        .count();
    let mut colours: Vec<[u8; 3]> = pixels
        .iter()
        .filter(|p| p.len() >= 3)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    colours.sort();
    colours.dedup();
    (
        info.width,
        info.height,
        inked as f64 / pixels.len().max(1) as f64,
        colours.len(),
    )
}

/// Runs the two reference scenarios on every registered QEMU with
/// diagnoses, and renders the report; (report path, versions, the directory).
fn real_report(test: &str) -> Option<(PathBuf, Vec<String>, tempfile::TempDir)> {
    let versions: Vec<String> = common::MATRIX
        .iter()
        .filter(|v| common::qemu_or_skip(v, test).is_some())
        .map(|v| v.to_string())
        .collect();
    if versions.is_empty() {
        return None;
    }
    common::firmware();
    let dir = tempfile::tempdir().expect("a temp dir");
    let results = dir.path().join("all.json");
    let html = dir.path().join("report.html");
    let root = common::root();
    let mut args: Vec<String> = vec![
        "matrix".into(),
        root.join("scenarios/hypervisor-2vm.toml")
            .display()
            .to_string(),
        root.join("scenarios/hypervisor-noadue-2vm.toml")
            .display()
            .to_string(),
        "--no-build".into(),
        "--diagnose".into(),
        "--results".into(),
        results.display().to_string(),
    ];
    for v in &versions {
        args.extend(["--qemu".to_string(), v.clone()]);
    }
    common::hvharness_ok(&args);
    common::hvharness_ok(&[
        "report".into(),
        "html".into(),
        results.display().to_string(),
        "-o".into(),
        html.display().to_string(),
        "--junit".into(),
        dir.path().join("all.xml").display().to_string(),
    ]);
    Some((html, versions, dir))
}

#[test]
fn html_report_of_the_adue_matrix_in_chromium() {
    let Some((html, versions, dir)) = real_report("html_report_of_the_adue_matrix_in_chromium")
    else {
        return;
    };
    let source = std::fs::read_to_string(&html).expect("report.html");
    // Self-contained: nothing fetched from anywhere.
    for needle in ["http://", "https://", "<link", "src=\"", "@import", "url("] {
        assert!(
            !source.contains(needle),
            "the page refers to an outside resource ({needle})"
        );
    }
    let adue_versions =
        versions.iter().any(|v| v == "8.0.2") && versions.iter().any(|v| v == "9.2.0");
    // The JUnit of the same file carries each hang's diagnosis as system-out.
    let xml = std::fs::read_to_string(dir.path().join("all.xml")).expect("all.xml");
    let junit = quick_junit::Report::deserialize_from_str(&xml).expect("JUnit reads back");
    let suite = junit
        .test_suites
        .iter()
        .find(|s| s.name.as_str() == "hypervisor-noadue-2vm")
        .expect("a suite per scenario");
    for case in &suite.test_cases {
        let out = case
            .system_out
            .as_ref()
            .map(|s| s.as_str())
            .unwrap_or_default();
        let hangs =
            case.name.as_str().starts_with("qemu 9.") || case.name.as_str().starts_with("qemu 10.");
        assert_eq!(
            out.contains("--- diagnosis") && out.contains("[adue]"),
            hangs,
            "{}: {out}",
            case.name.as_str()
        );
    }

    let Some(browser) = chromium() else {
        common::skipped("html_report_of_the_adue_matrix_in_chromium: the browser checks: no chromium on PATH (scripts/setup.sh installs Debian's chromium; or set HVHARNESS_CHROMIUM)");
        return;
    };
    let dom = browse(&browser, &html, &["--dump-dom".to_string()]);
    // The grid: a column per version, a row per scenario, a word per cell.
    assert!(
        dom.contains("<table class=\"grid\" id=\"grid\">"),
        "no grid in the DOM:\n{dom}"
    );
    for v in &versions {
        assert!(
            dom.contains(&format!("<th scope=\"col\">QEMU {v}</th>")),
            "no column for {v}"
        );
    }
    for s in ["hypervisor-2vm", "hypervisor-noadue-2vm"] {
        assert!(
            dom.contains(&format!("<th scope=\"row\">{s}</th>")),
            "no row for {s}"
        );
    }
    let verdicts = dom.matches("data-verdict=\"pass\"").count();
    assert_eq!(
        verdicts,
        2 * versions.len(),
        "every cell passes (boots where expected, hangs where expected)"
    );
    // The ADUE hang: diagnosed, and on 9.2.0 the henvcfg.ADUE change since 8.0.2 marked.
    for v in versions
        .iter()
        .filter(|v| v.starts_with("9.") || v.starts_with("10."))
    {
        let id = format!("cell-hypervisor-noadue-2vm-{}", v.replace('.', "-"));
        let start = dom
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no details for {id}"));
        let section = &dom[start
            ..dom[start..]
                .find("</details>")
                .map_or(dom.len(), |e| start + e)];
        assert!(
            section.contains("<pre class=\"diagnosis\">"),
            "{id}: no diagnosis"
        );
        assert!(
            section.contains("[adue]"),
            "{id}: the diagnosis names the ADUE rule:\n{section}"
        );
    }
    if adue_versions {
        let id = "cell-hypervisor-noadue-2vm-9-2-0";
        let start = dom.find(&format!("id=\"{id}\"")).expect("the 9.2.0 cell");
        let section = &dom[start..start + dom[start..].find("</details>").expect("its end")];
        assert!(
            section.contains("changed since QEMU 8.0.2: henvcfg.ADUE"),
            "{section}"
        );
        assert!(
            section.contains("data-field=\"henvcfg.ADUE\">henvcfg.ADUE = 0</mark> (was 1)"),
            "{section}"
        );
        // The script opened nothing by mistake: this cell is open because it has a diagnosis.
        assert!(
            section.starts_with(&format!("id=\"{id}\" open")),
            "{}",
            &section[..80.min(section.len())]
        );
    } else {
        common::skipped("html_report_of_the_adue_matrix_in_chromium: the henvcfg.ADUE change needs QEMU 8.0.2 and 9.2.0");
    }

    // Screenshots: desktop and phone widths, the right size, not blank.
    for (w, h) in [(1280u32, 900u32), (390, 844)] {
        let shot = dir.path().join(format!("shot-{w}.png"));
        browse(
            &browser,
            &html,
            &[
                format!("--window-size={w},{h}"),
                format!("--screenshot={}", shot.display()),
            ],
        );
        let (pw, ph, inked, colours) = png_stats(&shot);
        assert_eq!((pw, ph), (w, h), "screenshot size");
        assert!(
            inked > 0.03,
            "{w}x{h}: only {:.1}% of the pixels are not background",
            inked * 100.0
        );
        assert!(
            colours > 20,
            "{w}x{h}: {colours} colours: text, verdict colours and table lines expected"
        );
    }
    if let Some(keep) = std::env::var_os("HVHARNESS_KEEP_REPORT") {
        let keep = PathBuf::from(keep);
        let _ = std::fs::create_dir_all(&keep);
        for f in ["report.html", "all.json", "shot-1280.png", "shot-390.png"] {
            let _ = std::fs::copy(dir.path().join(f), keep.join(f));
        }
    }
}
