//! A [`Recording`] saved to a file and read back, so that a run recorded in one process
//! replays in another (`sessionctl … --record FILE`, then `sessionctl replay FILE`).
//!
//! The format is JSON lines, one object a line, so that a recording can be read, grepped
//! and diffed with ordinary tools:
//!
//! 1. a header: `{"format":"session-core-recording","version":1,"complete":…,
//!    "inputs":N,"sent":M,"config":{…}}`, the configuration being every field of
//!    [`Config`] with the state table as its YAML text (the embedded default's too, so a
//!    later build with another default still replays the run) and no password;
//! 2. `N` lines `{"at_us":…,"input":{…}}`, each input with its instant in microseconds;
//! 3. `M` lines `{"sent":{…}}`, the datagrams the endpoint asked to send.
//!
//! Datagram bytes are base64. The header's counts make a cut-off file detectable; a file
//! of a later version is refused by its version, before anything else is read. Nothing
//! in a file can make the reader panic or allocate beyond [`MAX_LINE_BYTES`] per line.

use std::fmt;
use std::io::{self, BufRead, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use session_core::auth::{Credentials, Login};
use session_core::driver::{RecordedInput, Recording};
use session_core::endpoint::{Command, MediaInput, Transmit};
use session_core::media::{DtmfMode, MediaMode};
use session_core::resolve::{QueryId, ResolveError, Resolved};
use session_core::sdp::MediaConfig;
use session_core::sip::{ParseLimits, Transport};
use session_core::state_table::{CompiledTable, TableErrors, DEFAULT_TABLE_YAML};
use session_core::time::Instant;
use session_core::transaction::TimerConfig;
use session_core::{Config, ReliableProvisionals};

/// What the header's `format` says.
const FORMAT: &str = "session-core-recording";

/// The version this build writes and the newest it reads.
pub const VERSION: u32 = 1;

/// The longest line read: a datagram of the largest SIP message in base64, or a header
/// with a state table, fits many times over.
pub const MAX_LINE_BYTES: u64 = 4 << 20;

/// What a [`Config`] does not hold in a form a file can: the YAML the state table was
/// compiled from, and the user name of the digest login (its password is never written).
#[derive(Clone, Debug, Default)]
pub struct ConfigSources {
    /// The text of [`Config::table`] when it is not the embedded default.
    pub table_yaml: Option<String>,
    /// The user name digest challenges were answered with, when credentials were set.
    pub digest_user: Option<String>,
}

/// Why a recording could not be saved.
#[derive(Debug)]
#[non_exhaustive]
pub enum SaveError {
    /// Writing failed.
    Io(io::Error),
    /// The configuration's state table is not the default and [`ConfigSources`] has no
    /// YAML for it.
    TableSourceMissing {
        /// The table's name.
        table: String,
    },
    /// An input of a kind this version of the format does not hold.
    UnsupportedInput {
        /// Its position among the inputs.
        index: usize,
    },
}

impl fmt::Display for SaveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SaveError::Io(e) => write!(f, "cannot write the recording: {e}"),
            SaveError::TableSourceMissing { table } => {
                write!(f, "the YAML of state table {table} was not given")
            }
            SaveError::UnsupportedInput { index } => {
                write!(
                    f,
                    "input {index} is of a kind format version {VERSION} cannot hold"
                )
            }
        }
    }
}

impl std::error::Error for SaveError {}

impl From<io::Error> for SaveError {
    fn from(e: io::Error) -> SaveError {
        SaveError::Io(e)
    }
}

/// Why a file could not be read as a recording.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadError {
    /// Reading failed.
    Io(io::Error),
    /// The file is empty.
    Empty,
    /// The first line is not a recording's header.
    NotARecording,
    /// The file was written by a later version of the format.
    NewerVersion {
        /// Its version.
        found: u32,
    },
    /// A line is not what its place in the file calls for.
    Malformed {
        /// The line, from 1.
        line: usize,
        /// What is wrong with it.
        error: serde_json::Error,
    },
    /// The file ends inside a line (every line [`save`] writes ends with a newline).
    CutMidLine {
        /// The line, from 1.
        line: usize,
    },
    /// A line is longer than [`MAX_LINE_BYTES`].
    LineTooLong {
        /// The line, from 1.
        line: usize,
    },
    /// The file ends before the inputs and datagrams its header counts.
    Truncated {
        /// Inputs the header counts.
        inputs: usize,
        /// Datagrams the header counts.
        sent: usize,
        /// Lines after the header that were found.
        lines: usize,
    },
    /// There are lines after the last one the header counts.
    TrailingLines {
        /// The first of them, from 1.
        line: usize,
    },
    /// The state table in the header does not compile.
    Table(TableErrors),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Io(e) => write!(f, "cannot read the recording: {e}"),
            LoadError::Empty => f.write_str("the file is empty"),
            LoadError::NotARecording => {
                f.write_str("line 1 is not the header of a session-core recording")
            }
            LoadError::NewerVersion { found } => write!(
                f,
                "the recording is of format version {found}; this build reads up to {VERSION}"
            ),
            LoadError::Malformed { line, error } => write!(f, "line {line}: {error}"),
            LoadError::CutMidLine { line } => {
                write!(f, "the file is cut short in the middle of line {line}")
            }
            LoadError::LineTooLong { line } => {
                write!(f, "line {line} is longer than {MAX_LINE_BYTES} bytes")
            }
            LoadError::Truncated {
                inputs,
                sent,
                lines,
            } => write!(
                f,
                "the file is cut short: the header counts {inputs} inputs and {sent} datagrams, \
                 {lines} lines follow it"
            ),
            LoadError::TrailingLines { line } => {
                write!(f, "line {line} is past the last line the header counts")
            }
            LoadError::Table(errors) => {
                write!(f, "the recorded state table does not compile: {errors}")
            }
        }
    }
}

impl std::error::Error for LoadError {}

/// Writes `recording` to `out` in the format of the module doc. The password, if any, is
/// not written: the replay is given it again ([`load`]).
pub fn save(
    recording: &Recording,
    sources: &ConfigSources,
    mut out: impl Write,
) -> Result<(), SaveError> {
    let header = Header {
        format: FORMAT.to_owned(),
        version: VERSION,
        complete: recording.is_complete(),
        inputs: recording.inputs().len(),
        sent: recording.sent_datagrams().len(),
        config: ConfigRecord::new(recording.config(), sources)?,
    };
    write_line(&mut out, &header)?;
    for (index, (at, input)) in recording.inputs().iter().enumerate() {
        let input = InputRecord::new(input).ok_or(SaveError::UnsupportedInput { index })?;
        let line = InputLine {
            at_us: at.as_micros(),
            input,
        };
        write_line(&mut out, &line)?;
    }
    for transmit in recording.sent_datagrams() {
        let line = SentLine {
            sent: DatagramRecord::from_transmit(transmit),
        };
        write_line(&mut out, &line)?;
    }
    out.flush()?;
    Ok(())
}

/// Reads a recording written by [`save`], with `password` for the digest login its
/// configuration names (without it, a run that answered challenges replays to different
/// Authorization headers).
pub fn load(mut input: impl BufRead, password: Option<&str>) -> Result<Recording, LoadError> {
    let mut reader = Lines::new(&mut input);
    let header = reader.next_line()?.ok_or(LoadError::Empty)?;
    let probe: Probe = serde_json::from_str(&header).map_err(|_| LoadError::NotARecording)?;
    if probe.format != FORMAT {
        return Err(LoadError::NotARecording);
    }
    if probe.version > VERSION {
        return Err(LoadError::NewerVersion {
            found: probe.version,
        });
    }
    let header: Header = reader.parse(&header)?;
    let config = header.config.into_config(password)?;
    let truncated = |lines| LoadError::Truncated {
        inputs: header.inputs,
        sent: header.sent,
        lines,
    };
    let mut inputs = Vec::new();
    for read in 0..header.inputs {
        let line = reader.next_line()?.ok_or_else(|| truncated(read))?;
        let InputLine { at_us, input } = reader.parse(&line)?;
        inputs.push((Instant::from_micros(at_us), input.into_input()));
    }
    let mut sent = Vec::new();
    for read in 0..header.sent {
        let line = reader
            .next_line()?
            .ok_or_else(|| truncated(header.inputs + read))?;
        let SentLine { sent: datagram } = reader.parse(&line)?;
        sent.push(datagram.into_transmit());
    }
    if reader.next_line()?.is_some() {
        return Err(LoadError::TrailingLines { line: reader.line });
    }
    Ok(Recording::from_parts(config, inputs, sent, header.complete))
}

/// Writes one value as a line of JSON.
fn write_line(out: &mut impl Write, value: &impl Serialize) -> Result<(), SaveError> {
    serde_json::to_writer(&mut *out, value).map_err(io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// The lines of a file, each bounded, counted from 1.
struct Lines<'a, R> {
    input: &'a mut R,
    line: usize,
}

impl<'a, R: BufRead> Lines<'a, R> {
    fn new(input: &'a mut R) -> Self {
        Lines { input, line: 0 }
    }

    /// The next line without its end, `None` at the end of the file.
    fn next_line(&mut self) -> Result<Option<String>, LoadError> {
        let mut line = String::new();
        let read = io::Read::take(&mut *self.input, MAX_LINE_BYTES + 1)
            .read_line(&mut line)
            .map_err(LoadError::Io)?;
        if read == 0 {
            return Ok(None);
        }
        self.line += 1;
        if read as u64 > MAX_LINE_BYTES {
            return Err(LoadError::LineTooLong { line: self.line });
        }
        if line.pop() != Some('\n') {
            return Err(LoadError::CutMidLine { line: self.line });
        }
        Ok(Some(line))
    }

    /// The last line read, parsed.
    fn parse<T: for<'de> Deserialize<'de>>(&self, line: &str) -> Result<T, LoadError> {
        serde_json::from_str(line).map_err(|error| LoadError::Malformed {
            line: self.line,
            error,
        })
    }
}

/// Just enough of a header to tell a recording and its version.
#[derive(Deserialize)]
struct Probe {
    format: String,
    version: u32,
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    /// False when the recording's limit cut it short: it will not replay.
    complete: bool,
    inputs: usize,
    sent: usize,
    config: ConfigRecord,
}

/// Every field of [`Config`], the table as YAML, the password left out.
#[derive(Serialize, Deserialize)]
struct ConfigRecord {
    seed: u64,
    sip_addr: SocketAddr,
    advertised_ip: Option<IpAddr>,
    user: String,
    user_agent: String,
    outbound_proxy: Option<SocketAddr>,
    timers: TimerConfig,
    max_sessions: usize,
    max_dns_queries: usize,
    max_transactions: usize,
    /// Absent from recordings made before the limit existed: the default then.
    #[serde(default = "default_max_pending_incoming")]
    max_pending_incoming: usize,
    retry_after_503_s: u32,
    max_queued_outputs: usize,
    parse_limits: ParseLimits,
    media: MediaConfig,
    media_mode: MediaMode,
    dtmf_mode: DtmfMode,
    rtp_inactivity: Option<Duration>,
    audio_sink_frames: usize,
    #[serde(default)]
    reliable_provisionals: ReliableProvisionals,
    #[serde(default)]
    session_expires: Option<u32>,
    digest_user: Option<String>,
    registration_retry_base: Duration,
    registration_retry_max: Duration,
    /// Absent from recordings of a lone endpoint: `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shard: Option<session_core::driver::Shard>,
    table: TableRecord,
}

/// A state table as its name and the YAML it compiles from.
#[derive(Serialize, Deserialize)]
struct TableRecord {
    name: String,
    yaml: String,
}

fn default_max_pending_incoming() -> usize {
    Config::new(SocketAddr::from(([127, 0, 0, 1], 0))).max_pending_incoming
}

impl ConfigRecord {
    fn new(config: &Config, sources: &ConfigSources) -> Result<ConfigRecord, SaveError> {
        // Every field named, none skipped with `..`: a field added to `Config` does not
        // compile here until the format holds it (with a new version if need be).
        let Config {
            seed,
            sip_addr,
            advertised_ip,
            user,
            user_agent,
            outbound_proxy,
            timers,
            max_sessions,
            max_dns_queries,
            max_transactions,
            max_pending_incoming,
            retry_after_503_s,
            max_queued_outputs,
            parse_limits,
            media,
            media_mode,
            dtmf_mode,
            rtp_inactivity,
            audio_sink_frames,
            reliable_provisionals,
            session_expires,
            credentials: _,
            registration_retry_base,
            registration_retry_max,
            table,
            shard,
        } = config;
        let yaml = if Arc::ptr_eq(table, &CompiledTable::shared_default()) {
            DEFAULT_TABLE_YAML.to_owned()
        } else {
            sources
                .table_yaml
                .clone()
                .ok_or_else(|| SaveError::TableSourceMissing {
                    table: table.name().to_owned(),
                })?
        };
        Ok(ConfigRecord {
            seed: *seed,
            sip_addr: *sip_addr,
            advertised_ip: *advertised_ip,
            user: user.clone(),
            user_agent: user_agent.clone(),
            outbound_proxy: *outbound_proxy,
            timers: *timers,
            max_sessions: *max_sessions,
            max_dns_queries: *max_dns_queries,
            max_transactions: *max_transactions,
            max_pending_incoming: *max_pending_incoming,
            retry_after_503_s: *retry_after_503_s,
            max_queued_outputs: *max_queued_outputs,
            parse_limits: *parse_limits,
            media: media.clone(),
            media_mode: *media_mode,
            dtmf_mode: *dtmf_mode,
            rtp_inactivity: *rtp_inactivity,
            audio_sink_frames: *audio_sink_frames,
            reliable_provisionals: *reliable_provisionals,
            session_expires: *session_expires,
            digest_user: sources.digest_user.clone(),
            registration_retry_base: *registration_retry_base,
            registration_retry_max: *registration_retry_max,
            shard: *shard,
            table: TableRecord {
                name: table.name().to_owned(),
                yaml,
            },
        })
    }

    fn into_config(self, password: Option<&str>) -> Result<Config, LoadError> {
        // This build's default, when the run's was the same, keeps the loaded
        // configuration's table the shared default (which saves as such).
        let table = if self.table.yaml == DEFAULT_TABLE_YAML {
            CompiledTable::shared_default()
        } else {
            Arc::new(
                CompiledTable::from_yaml(&self.table.name, &self.table.yaml)
                    .map_err(LoadError::Table)?,
            )
        };
        let mut config = Config::new(self.sip_addr);
        config.seed = self.seed;
        config.advertised_ip = self.advertised_ip;
        config.user = self.user;
        config.user_agent = self.user_agent;
        config.outbound_proxy = self.outbound_proxy;
        config.timers = self.timers;
        config.max_sessions = self.max_sessions;
        config.max_dns_queries = self.max_dns_queries;
        config.max_transactions = self.max_transactions;
        config.max_pending_incoming = self.max_pending_incoming;
        config.retry_after_503_s = self.retry_after_503_s;
        config.max_queued_outputs = self.max_queued_outputs;
        config.parse_limits = self.parse_limits;
        config.media = self.media;
        config.media_mode = self.media_mode;
        config.dtmf_mode = self.dtmf_mode;
        config.rtp_inactivity = self.rtp_inactivity;
        config.audio_sink_frames = self.audio_sink_frames;
        config.reliable_provisionals = self.reliable_provisionals;
        config.session_expires = self.session_expires;
        if let Some(user) = self.digest_user {
            config.credentials =
                Credentials::with_default(Login::new(user, password.unwrap_or_default()));
        }
        config.registration_retry_base = self.registration_retry_base;
        config.registration_retry_max = self.registration_retry_max;
        config.shard = self.shard;
        config.table = table;
        Ok(config)
    }
}

#[derive(Serialize, Deserialize)]
struct InputLine {
    at_us: u64,
    input: InputRecord,
}

#[derive(Serialize, Deserialize)]
struct SentLine {
    sent: DatagramRecord,
}

/// [`RecordedInput`] as the file holds it: the same variants, bytes in base64.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum InputRecord {
    Datagram(DatagramRecord),
    Command(Command),
    Media(MediaInput),
    Timeout,
    Resolved {
        id: QueryId,
        answer: Result<Resolved, ResolveError>,
    },
    Shutdown,
    Drain {
        grace_ms: u64,
    },
    SendBacklogged(bool),
}

impl InputRecord {
    /// `None` for an input of a kind this format does not know.
    fn new(input: &RecordedInput) -> Option<InputRecord> {
        Some(match input {
            RecordedInput::Datagram {
                local,
                remote,
                transport,
                bytes,
            } => InputRecord::Datagram(DatagramRecord {
                local: *local,
                remote: *remote,
                transport: transport.clone(),
                bytes: bytes.clone(),
            }),
            RecordedInput::Command(command) => InputRecord::Command(command.clone()),
            RecordedInput::Media(media) => InputRecord::Media(media.clone()),
            RecordedInput::Timeout => InputRecord::Timeout,
            RecordedInput::Resolved { id, answer } => InputRecord::Resolved {
                id: *id,
                answer: answer.clone(),
            },
            RecordedInput::Shutdown => InputRecord::Shutdown,
            RecordedInput::Drain { grace_ms } => InputRecord::Drain {
                grace_ms: *grace_ms,
            },
            RecordedInput::SendBacklogged(backlogged) => InputRecord::SendBacklogged(*backlogged),
            _ => return None,
        })
    }

    fn into_input(self) -> RecordedInput {
        match self {
            InputRecord::Datagram(d) => RecordedInput::Datagram {
                local: d.local,
                remote: d.remote,
                transport: d.transport,
                bytes: d.bytes,
            },
            InputRecord::Command(command) => RecordedInput::Command(command),
            InputRecord::Media(media) => RecordedInput::Media(media),
            InputRecord::Timeout => RecordedInput::Timeout,
            InputRecord::Resolved { id, answer } => RecordedInput::Resolved { id, answer },
            InputRecord::Shutdown => RecordedInput::Shutdown,
            InputRecord::Drain { grace_ms } => RecordedInput::Drain { grace_ms },
            InputRecord::SendBacklogged(backlogged) => RecordedInput::SendBacklogged(backlogged),
        }
    }
}

/// A datagram received or sent.
#[derive(Serialize, Deserialize)]
struct DatagramRecord {
    local: SocketAddr,
    remote: SocketAddr,
    transport: Transport,
    #[serde(with = "base64_bytes")]
    bytes: Vec<u8>,
}

impl DatagramRecord {
    fn from_transmit(t: &Transmit) -> DatagramRecord {
        DatagramRecord {
            local: t.local,
            remote: t.remote,
            transport: t.transport.clone(),
            bytes: t.payload.to_vec(),
        }
    }

    fn into_transmit(self) -> Transmit {
        Transmit {
            local: self.local,
            remote: self.remote,
            transport: self.transport,
            payload: self.bytes.into(),
        }
    }
}

/// Bytes as a standard base64 string.
mod base64_bytes {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_core::endpoint::{CallOptions, Endpoint, Output, SessionId};

    fn options_request(n: u32) -> RecordedInput {
        let bytes = format!(
            "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{n}\r\n\
             From: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\nCall-ID: c{n}\r\n\
             CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        RecordedInput::Datagram {
            local: "127.0.0.1:5060".parse().unwrap(),
            remote: "127.0.0.1:5070".parse().unwrap(),
            transport: Transport::Udp,
            bytes: bytes.into_bytes(),
        }
    }

    /// An endpoint answering an OPTIONS and placing a call, recorded as a driver would.
    fn recorded() -> Recording {
        let mut config = Config::new("127.0.0.1:5060".parse().unwrap());
        config.seed = 7;
        let mut endpoint = Endpoint::new(config.clone());
        let mut recording = Recording::new(config, 64);
        let call = RecordedInput::Command(Command::MakeCall {
            target: "sip:bob@127.0.0.1:5070".into(),
            options: CallOptions::default(),
        });
        let inputs = [
            (10, options_request(1)),
            (20, call),
            (
                21,
                RecordedInput::Media(MediaInput::Ready {
                    session: SessionId(1),
                    local_rtp: "127.0.0.1:20000".parse().unwrap(),
                }),
            ),
            (600, RecordedInput::Timeout),
            (610, RecordedInput::SendBacklogged(true)),
            (620, options_request(2)),
            (630, RecordedInput::SendBacklogged(false)),
            (650, RecordedInput::Drain { grace_ms: 30_000 }),
            (700, RecordedInput::Shutdown),
        ];
        for (at_ms, input) in inputs {
            let now = Instant::from_millis(at_ms);
            let _ = input.apply(&mut endpoint, now);
            recording.input(now, input);
            while let Some(output) = endpoint.poll_output() {
                if let Output::Transmit(t) = output {
                    recording.sent(&t);
                }
            }
        }
        recording
    }

    fn saved(recording: &Recording) -> String {
        let mut file = Vec::new();
        save(recording, &ConfigSources::default(), &mut file).unwrap();
        String::from_utf8(file).unwrap()
    }

    fn load_text(text: &str) -> Result<Recording, LoadError> {
        load(text.as_bytes(), None)
    }

    #[test]
    fn a_saved_recording_loads_back_and_replays_to_the_same_datagrams() {
        let recording = recorded();
        let text = saved(&recording);
        let sent = recording.sent_datagrams().len();
        assert!(sent >= 3, "a 200, an INVITE and its retransmission: {sent}");
        assert_eq!(text.lines().count(), 1 + 9 + sent);
        let loaded = load_text(&text).unwrap();
        assert_eq!(loaded.sent_datagrams(), recording.sent_datagrams());
        assert_eq!(loaded.inputs().len(), 9);
        assert!(loaded.is_complete());
        assert_eq!(loaded.config().seed, 7);
        assert_eq!(loaded.check_replay(), Ok(sent));
        assert_eq!(saved(&loaded), text, "a round trip changes nothing");
    }

    #[test]
    fn an_incomplete_recording_stays_incomplete_once_saved() {
        let config = Config::new("127.0.0.1:5060".parse().unwrap());
        let mut recording = Recording::new(config, 1);
        recording.input(Instant::ZERO, RecordedInput::Timeout);
        recording.input(Instant::ZERO, RecordedInput::Timeout);
        let loaded = load_text(&saved(&recording)).unwrap();
        assert!(!loaded.is_complete());
    }

    #[test]
    fn a_digest_login_is_saved_without_its_password_and_given_again_to_load() {
        let mut config = Config::new("127.0.0.1:5060".parse().unwrap());
        config.credentials = Credentials::with_default(Login::new("alice", "s3cret"));
        let recording = Recording::new(config.clone(), 1);
        let sources = ConfigSources {
            digest_user: Some("alice".into()),
            ..ConfigSources::default()
        };
        let mut file = Vec::new();
        save(&recording, &sources, &mut file).unwrap();
        assert!(!String::from_utf8_lossy(&file).contains("s3cret"));
        let loaded = load(&file[..], Some("s3cret")).unwrap();
        assert_eq!(loaded.config().credentials, config.credentials);
    }

    #[test]
    fn a_table_other_than_the_default_needs_its_yaml_to_be_saved() {
        let mut config = Config::new("127.0.0.1:5060".parse().unwrap());
        config.table = Arc::new(CompiledTable::from_yaml("mine.yaml", DEFAULT_TABLE_YAML).unwrap());
        let recording = Recording::new(config, 1);
        let error = save(&recording, &ConfigSources::default(), Vec::new()).unwrap_err();
        assert!(
            matches!(error, SaveError::TableSourceMissing { .. }),
            "{error}"
        );
    }

    /// Every way a file can be wrong gives its own error, never a panic.
    #[test]
    fn a_damaged_file_is_refused_with_a_typed_error() {
        let text = saved(&recorded());
        let lines: Vec<&str> = text.lines().collect();
        let header = lines[0];
        let newer = header.replace("\"version\":1", "\"version\":2") + "\n";
        let cut_short = lines[..3].join("\n") + "\n";
        let cut_mid_line = &text[..text.len() - 20];
        let bad_base64 = text.replacen("\"bytes\":\"", "\"bytes\":\"!", 1);
        let bad_input = format!("{header}\n{{\"at_us\":1,\"input\":\"sneeze\"}}\n");
        let cases = [
            ("empty", String::new()),
            ("not json", "hello\n".to_owned()),
            (
                "another format",
                "{\"format\":\"pcap\",\"version\":1}\n".to_owned(),
            ),
            ("newer version", newer),
            ("cut short", cut_short),
            ("cut mid-line", cut_mid_line.to_owned()),
            ("trailing line", format!("{text}{{}}\n")),
            ("bad base64", bad_base64),
            ("unknown input", bad_input),
            (
                "header without config",
                "{\"format\":\"session-core-recording\",\"version\":1}\n".to_owned(),
            ),
        ];
        let messages: Vec<String> = cases
            .iter()
            .map(|(name, text)| format!("{name}: {}", load_text(text).unwrap_err()))
            .collect();
        insta::assert_snapshot!(messages.join("\n"));
    }

    #[test]
    fn a_line_longer_than_the_limit_is_refused_before_it_is_read_whole() {
        let long = vec![b'x'; MAX_LINE_BYTES as usize + 10];
        let error = load(&long[..], None).unwrap_err();
        assert!(
            matches!(error, LoadError::LineTooLong { line: 1 }),
            "{error}"
        );
    }
}
