//! The measured server's CPU time and memory, read from /proc.

use anyhow::{anyhow, Context, Result};

/// Clock ticks per second of /proc/PID/stat times (USER_HZ, 100 on every Linux build that
/// matters; the kernel keeps it fixed for user space).
const USER_HZ: f64 = 100.0;

/// A sample of one process's resource use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// utime + stime of every thread, seconds.
    pub cpu_seconds: f64,
    /// VmRSS in bytes.
    pub rss: u64,
    /// RssAnon in bytes (heap and stacks, without mapped files).
    pub rss_anon: u64,
}

/// utime + stime in ticks from the text of /proc/PID/stat. The command name (field 2) is in
/// parentheses and may itself hold spaces and parentheses, so fields are counted from the last
/// `)`.
pub fn parse_stat_ticks(stat: &str) -> Result<u64> {
    let close = stat.rfind(')').ok_or_else(|| anyhow!("no ')' in stat"))?;
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let field = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .ok_or_else(|| anyhow!("stat has {} fields after the name", fields.len()))?
            .parse::<u64>()
            .with_context(|| format!("stat field {}", i + 3))
    };
    Ok(field(11)? + field(12)?)
}

/// The value of a `Key:   123 kB` line of /proc/PID/status, in bytes.
pub fn parse_status_kb(status: &str, key: &str) -> Result<u64> {
    for line in status.lines() {
        let Some(rest) = line.strip_prefix(key) else {
            continue;
        };
        let Some(rest) = rest.strip_prefix(':') else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let value: u64 = parts
            .next()
            .ok_or_else(|| anyhow!("{key} has no value"))?
            .parse()
            .with_context(|| format!("{key} value"))?;
        return match parts.next() {
            Some("kB") => Ok(value * 1024),
            other => Err(anyhow!("{key}: unexpected unit {other:?}")),
        };
    }
    Err(anyhow!("{key} not in status"))
}

pub fn sample(pid: u32) -> Result<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    Ok(Usage {
        cpu_seconds: parse_stat_ticks(&stat)? as f64 / USER_HZ,
        rss: parse_status_kb(&status, "VmRSS")?,
        rss_anon: parse_status_kb(&status, "RssAnon")?,
    })
}

/// Sampling is optional: `None` when no PID was given.
pub fn sample_opt(pid: Option<u32>) -> Result<Option<Usage>> {
    pid.map(sample).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_times_follow_the_last_parenthesis() {
        let stat = "4242 (turn server (x)) S 1 4242 4242 0 -1 4194560 1520 0 0 0 \
                    731 269 0 0 20 0 3 0 12345 1000000 500 18446744073709551615";
        assert_eq!(parse_stat_ticks(stat).unwrap(), 1000);
    }

    #[test]
    fn stat_without_enough_fields_is_an_error() {
        assert!(parse_stat_ticks("1 (a) S 1 2").is_err());
        assert!(parse_stat_ticks("no name").is_err());
        assert!(parse_stat_ticks("1 (a) S 1 1 1 0 -1 0 0 0 0 0 x 2").is_err());
    }

    #[test]
    fn status_values_in_bytes() {
        let status = "Name:\tturnserver\nVmRSS:\t   10240 kB\nRssAnon:\t    4096 kB\n";
        assert_eq!(parse_status_kb(status, "VmRSS").unwrap(), 10_485_760);
        assert_eq!(parse_status_kb(status, "RssAnon").unwrap(), 4_194_304);
        assert!(parse_status_kb(status, "VmSwap").is_err());
        assert!(parse_status_kb("VmRSS:\t12 pages\n", "VmRSS").is_err());
    }

    #[test]
    fn sample_of_this_process() {
        let u = sample(std::process::id()).unwrap();
        assert!(u.rss > 0 && u.rss_anon > 0 && u.rss_anon <= u.rss);
    }
}
