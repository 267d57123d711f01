//! The text of the background service: a systemd user unit (Linux) and a
//! launchd agent (macOS) that run `azmx-sync sync --watch` for one state
//! directory with the key the OS secret store keeps. Pure functions, so the
//! exact text is tested without installing anything (`commands/service.rs`
//! writes it).

use std::path::Path;

/// The systemd unit's file name (under `~/.config/systemd/user/`).
pub const SYSTEMD_UNIT: &str = "azmx-sync.service";
/// The launchd agent's label (its file is `~/Library/LaunchAgents/<label>.plist`).
pub const LAUNCHD_LABEL: &str = "dev.azmx.sync";

/// What the service runs.
pub struct ServiceSpec<'a> {
    /// Absolute path of the `azmx-sync` binary.
    pub exe: &'a Path,
    /// Absolute path of the device's state directory.
    pub state_dir: &'a Path,
    /// Seconds between cycles (the engine clamps to 30–3600).
    pub interval_secs: u64,
}

impl ServiceSpec<'_> {
    /// The command line, each argument as text. Paths must be absolute
    /// (the service does not start in the user's directory) and free of
    /// control characters (a newline would end the unit's line).
    pub fn argv(&self) -> Result<Vec<String>, String> {
        let text = |what: &str, p: &Path| -> Result<String, String> {
            if !p.is_absolute() {
                return Err(format!("{what} must be an absolute path: {}", p.display()));
            }
            let s = p
                .to_str()
                .ok_or_else(|| format!("{what} is not valid UTF-8: {}", p.display()))?;
            if s.chars().any(char::is_control) {
                return Err(format!("{what} contains a control character"));
            }
            Ok(s.to_string())
        };
        Ok(vec![
            text("the azmx-sync binary", self.exe)?,
            "sync".into(),
            "--watch".into(),
            "--interval".into(),
            self.interval_secs.to_string(),
            "--state-dir".into(),
            text("the state directory", self.state_dir)?,
        ])
    }
}

/// One argument of `ExecStart=`, quoted for systemd (systemd.service,
/// "Command lines"): inside double quotes, `\` and `"` are escaped, `%`
/// (specifiers) and `$` (variable expansion) doubled.
pub fn systemd_quote(arg: &str) -> String {
    let mut out = String::with_capacity(arg.len() + 2);
    out.push('"');
    for c in arg.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The systemd user unit.
///
/// Restart=on-failure brings it back after a crash or a relay outage that
/// ended the process; the exit codes a restart cannot mend (3: no key or a
/// wrong one, 5: revoked, 6: not initialised) stop it instead, with the
/// reason in the journal. Output goes to the journal
/// (`journalctl --user -u azmx-sync`). The hardening options are the ones
/// a user manager applies without privileges (seccomp and prctl based; no
/// mount namespaces, which user units only get with PrivateUsers=).
pub fn systemd_unit(spec: &ServiceSpec) -> Result<String, String> {
    let exec = spec
        .argv()?
        .iter()
        .map(|a| systemd_quote(a))
        .collect::<Vec<_>>()
        .join(" ");
    Ok(format!(
        "# Written by `azmx-sync service install`; `azmx-sync service uninstall` removes it.
[Unit]
Description=azmx-sync: end-to-end encrypted background sync
StartLimitIntervalSec=600
StartLimitBurst=5

[Service]
Type=simple
ExecStart={exec}
Restart=on-failure
RestartSec=30
# 3: no key in the secret store, or a wrong one; 5: device revoked;
# 6: state directory not initialised. A restart cannot fix these.
RestartPreventExitStatus=3 5 6
StandardInput=null
StandardOutput=journal
StandardError=journal
SyslogIdentifier=azmx-sync
Environment=NO_COLOR=1
UMask=0077
NoNewPrivileges=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
RestrictNamespaces=yes
SystemCallArchitectures=native

[Install]
WantedBy=default.target
"
    ))
}

/// XML text escaping for the property list's strings.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The launchd agent. KeepAlive with SuccessfulExit=false restarts it when
/// it fails (launchd cannot exempt exit codes: ThrottleInterval spaces the
/// restarts); stdout and stderr go to `log_file` (under ~/Library/Logs,
/// which Console.app shows).
pub fn launchd_plist(spec: &ServiceSpec, log_file: &Path) -> Result<String, String> {
    let args: String = spec
        .argv()?
        .iter()
        .map(|a| format!("    <string>{}</string>\n", xml_escape(a)))
        .collect();
    let log = log_file
        .to_str()
        .filter(|s| !s.chars().any(char::is_control))
        .ok_or_else(|| "the log path is not plain UTF-8 text".to_string())?;
    let log = xml_escape(log);
    Ok(format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Written by `azmx-sync service install`; `azmx-sync service uninstall` removes it. -->
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>{LAUNCHD_LABEL}</string>
  <key>ProgramArguments</key>
  <array>
{args}  </array>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <dict>
    <key>SuccessfulExit</key>
    <false/>
  </dict>
  <key>ThrottleInterval</key>
  <integer>30</integer>
  <key>ProcessType</key>
  <string>Background</string>
  <key>Umask</key>
  <integer>63</integer>
  <key>EnvironmentVariables</key>
  <dict>
    <key>NO_COLOR</key>
    <string>1</string>
  </dict>
  <key>StandardOutPath</key>
  <string>{log}</string>
  <key>StandardErrorPath</key>
  <string>{log}</string>
</dict>
</plist>
"#
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn spec<'a>(exe: &'a Path, state: &'a Path) -> ServiceSpec<'a> {
        ServiceSpec {
            exe,
            state_dir: state,
            interval_secs: 300,
        }
    }

    #[test]
    fn the_unit_runs_the_watch_loop_for_this_state_dir_and_restarts_on_failure() {
        let exe = PathBuf::from("/usr/local/bin/azmx-sync");
        let state = PathBuf::from("/home/ada/.local/share/azmx-sync");
        let unit = systemd_unit(&spec(&exe, &state)).unwrap();
        assert!(unit.contains(
            "\nExecStart=\"/usr/local/bin/azmx-sync\" \"sync\" \"--watch\" \"--interval\" \
             \"300\" \"--state-dir\" \"/home/ada/.local/share/azmx-sync\"\n"
        ));
        for line in [
            "Type=simple",
            "Restart=on-failure",
            "RestartPreventExitStatus=3 5 6",
            "StandardOutput=journal",
            "StandardError=journal",
            "WantedBy=default.target",
            "UMask=0077",
        ] {
            assert!(unit.lines().any(|l| l == line), "{line}");
        }
    }

    #[test]
    fn odd_paths_are_quoted_not_interpreted() {
        assert_eq!(systemd_quote("/a b/c"), "\"/a b/c\"");
        assert_eq!(
            systemd_quote(r#"/x/50%$HOME"q\"#),
            r#""/x/50%%$$HOME\"q\\""#
        );
        let exe = PathBuf::from("/opt/my tools/azmx-sync");
        let state = PathBuf::from("/srv/state\nExecStartPre=/bin/evil");
        assert!(systemd_unit(&spec(&exe, &state))
            .unwrap_err()
            .contains("control character"));
        let relative = PathBuf::from("state");
        assert!(systemd_unit(&spec(&exe, &relative))
            .unwrap_err()
            .contains("absolute"));
    }

    #[test]
    fn the_agent_keeps_alive_on_failure_and_logs_to_library_logs() {
        let exe = PathBuf::from("/Users/ada/bin/azmx-sync");
        let state = PathBuf::from("/Users/ada/Library/Application Support/azmx & co");
        let log = PathBuf::from("/Users/ada/Library/Logs/azmx-sync/azmx-sync.log");
        let plist = launchd_plist(&spec(&exe, &state), &log).unwrap();
        assert!(plist.contains("<string>dev.azmx.sync</string>"));
        assert!(plist.contains(
            "    <string>--state-dir</string>\n    \
             <string>/Users/ada/Library/Application Support/azmx &amp; co</string>\n"
        ));
        assert!(plist.contains("<key>SuccessfulExit</key>\n    <false/>"));
        assert!(plist.contains(
            "<key>StandardErrorPath</key>\n  \
             <string>/Users/ada/Library/Logs/azmx-sync/azmx-sync.log</string>"
        ));
    }

    /// A property-list parser reads it back: `plutil -lint` where there is
    /// one (macOS), else Python's plistlib; skipped, said, with neither.
    #[test]
    fn a_plist_parser_accepts_the_agent() {
        use std::process::Command;
        let exe = PathBuf::from("/Users/ada/bin/azmx-sync");
        let state = PathBuf::from("/Users/ada/state <&> \"q\"");
        let log = PathBuf::from("/Users/ada/Library/Logs/azmx-sync/azmx-sync.log");
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("dev.azmx.sync.plist");
        std::fs::write(&file, launchd_plist(&spec(&exe, &state), &log).unwrap()).unwrap();
        if let Ok(o) = Command::new("plutil").arg("-lint").arg(&file).output() {
            assert!(o.status.success(), "{o:?}");
            return;
        }
        let check = "import plistlib, sys\n\
                     p = plistlib.load(open(sys.argv[1], 'rb'))\n\
                     assert p['Label'] == 'dev.azmx.sync', p\n\
                     assert p['ProgramArguments'][-1] == sys.argv[2], p\n\
                     assert p['KeepAlive'] == {'SuccessfulExit': False}, p\n";
        match Command::new("python3")
            .args(["-c", check])
            .arg(&file)
            .arg(&state)
            .output()
        {
            Ok(o) => assert!(o.status.success(), "{o:?}"),
            Err(e) => eprintln!("skipped: neither plutil nor python3 here ({e})"),
        }
    }
}
