//! `jwt-relay-cli`: argument parsing and output only; the work is in the library.
//! Exit codes: 0 success, 1 failure, 2 usage error (clap's own).

use std::{
    fs,
    io::{self, Read as _, Write},
    path::Path,
    path::PathBuf,
    process::ExitCode,
};

use anyhow::{anyhow, bail, Context, Result};
use clap::{
    builder::{NonEmptyStringValueParser, PossibleValuesParser},
    Args, Parser, Subcommand, ValueEnum,
};
use jwt_relay_cli::{
    cert, check,
    claims::{self, ClaimFlags},
    demo, echo, envoy,
    idp::{self, StubIdp},
    inspect,
    keys::{self, KeyKind, SigningKey},
    mint::{self, Embeds},
    token,
};
use serde_json::Value;

#[derive(Parser)]
#[command(
    name = "jwt-relay-cli",
    version,
    about = "Keys, tokens, config checks and demo services for jwt-relay"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a signing key: a private JWK, optionally PEM files and the public JWKS
    Keygen(KeygenArgs),
    /// Print the public JWKS of private JWK files
    Jwks(JwksArgs),
    /// Mint one signed JWT and print it
    Mint(Box<MintArgs>),
    /// Decode a token and explain what jwt-relay would check (verifies only with --jwks)
    Inspect(InspectArgs),
    /// Check jwt-relay configurations with the filter's own parser: the plugin JSON, Envoy
    /// configs, Istio WasmPlugins, Envoy Gateway EnvoyExtensionPolicies
    CheckConfig(CheckConfigArgs),
    /// Run the echo upstream in the foreground
    Echo(EchoArgs),
    /// Run a stub identity service in the foreground: JWKS, revocation feed, control API
    Serve(ServeArgs),
    /// Revoke a session on a running stub identity service (`serve`)
    Revoke(RevokeArgs),
    /// Walk README.md's demo against a real Envoy (what `make demo` runs), or print or update
    /// the README section it is the source of
    Demo(DemoArgs),
    /// The Envoy launcher: `which` prints the binary that tests, demo and benchmarks use
    Envoy(EnvoyArgs),
    /// Make the demo edge's TLS certificate: a throwaway CA (ca.crt) and a certificate it signs
    /// (edge.crt, edge.key) for localhost and 127.0.0.1. Demo and tests only
    Cert(CertArgs),
}

#[derive(Args)]
struct CertArgs {
    /// Directory to write ca.crt, edge.crt and edge.key into (created if missing; the files are
    /// replaced)
    #[arg(long, value_name = "DIR", default_value = cert::DEMO_DIR)]
    out: PathBuf,
    /// A DNS name or IP address the edge certificate is for; repeatable [default: localhost and
    /// 127.0.0.1]
    #[arg(long = "name", value_name = "NAME", value_parser = NonEmptyStringValueParser::new())]
    names: Vec<String>,
}

#[derive(Args)]
struct DemoArgs {
    /// Print the README section ("The demo, scenario by scenario") instead of running it
    #[arg(long, conflicts_with = "update_readme")]
    print_markdown: bool,
    /// Rewrite that section of FILE (README.md) from the walkthrough, instead of running it
    #[arg(long, value_name = "FILE")]
    update_readme: Option<PathBuf>,
    /// The project root (envoy/demo.yaml, the demo keys, the .wasm) [default: the current directory]
    #[arg(long, value_name = "DIR")]
    repo: Option<PathBuf>,
    /// The filter to load [default: target/wasm32-wasip1/release/jwt_relay.wasm under the root]
    #[arg(long, value_name = "FILE")]
    wasm: Option<PathBuf>,
}

#[derive(Args)]
struct EnvoyArgs {
    #[command(subcommand)]
    command: EnvoyCommand,
}

#[derive(Subcommand)]
enum EnvoyCommand {
    /// Print the Envoy binary: $ENVOY_BIN, else `envoy` on PATH, else the project's .venv
    Which {
        /// The project root whose .venv to look in [default: the current directory]
        #[arg(long, value_name = "DIR")]
        repo: Option<PathBuf>,
    },
}

#[derive(Args)]
struct KeygenArgs {
    /// Key type
    #[arg(long, value_enum)]
    kind: Kind,
    /// Key id, written as "kid"
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    kid: String,
    /// Write the private JWK to FILE (created with mode 0600) instead of stdout
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Also write the private key as PKCS#8 PEM to FILE (mode 0600); not for --kind hmac
    #[arg(long, value_name = "FILE")]
    pem: Option<PathBuf>,
    /// Also write the public key as SPKI PEM to FILE; not for --kind hmac
    #[arg(long, value_name = "FILE")]
    public_pem: Option<PathBuf>,
    /// Print the public JWKS on stdout (the private JWK then needs --out)
    #[arg(long, requires = "out")]
    jwks: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    /// RSA 2048-bit, signs RS256 (or RS384/RS512/PS256/PS384/PS512)
    Rsa,
    /// ECDSA P-256, signs ES256
    Ec,
    /// ECDSA P-384, signs ES384
    EcP384,
    /// ECDSA P-521, signs ES512
    EcP521,
    /// Ed25519, signs EdDSA
    Ed25519,
    /// 32-byte shared secret, signs HS256 (HS384/HS512 need a 48/64-byte key)
    Hmac,
}

impl From<Kind> for KeyKind {
    fn from(kind: Kind) -> KeyKind {
        match kind {
            Kind::Rsa => KeyKind::Rsa,
            Kind::Ec => KeyKind::P256,
            Kind::EcP384 => KeyKind::P384,
            Kind::EcP521 => KeyKind::P521,
            Kind::Ed25519 => KeyKind::Ed25519,
            Kind::Hmac => KeyKind::Hmac,
        }
    }
}

#[derive(Args)]
struct JwksArgs {
    /// Private JWK files, as written by keygen
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

#[derive(Args)]
#[command(allow_negative_numbers = true)]
struct MintArgs {
    /// Private JWK file to sign with
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Signing alg [default: the key's own "alg"]
    #[arg(long, value_parser = PossibleValuesParser::new(token::ALGORITHMS))]
    alg: Option<String>,
    /// Issuer ("iss"); required unless --claims-json has one
    #[arg(long, required_unless_present = "claims_json")]
    iss: Option<String>,
    /// Subject ("sub")
    #[arg(long)]
    sub: Option<String>,
    /// Audience; repeat for several ("aud" becomes an array)
    #[arg(long, value_name = "AUD")]
    aud: Vec<String>,
    /// Lifetime: exp = now + SECONDS [default: 300, unless --claims-json has an exp]
    #[arg(long, value_name = "SECONDS")]
    ttl: Option<i64>,
    /// iat = now + S (negative: issued in the past) [default: 0, unless --claims-json has an iat]
    #[arg(long, value_name = "S")]
    iat_offset: Option<i64>,
    /// Add nbf = now + S
    #[arg(long, value_name = "S")]
    nbf_offset: Option<i64>,
    /// exp = now + S, replacing --ttl (negative: already expired)
    #[arg(long, value_name = "S")]
    exp_offset: Option<i64>,
    /// Session id ("sid")
    #[arg(long)]
    sid: Option<String>,
    /// Claims from a JSON object in FILE ("-": stdin); the flags above and --claim override them
    #[arg(long, value_name = "FILE|-")]
    claims_json: Option<String>,
    /// Extra claim; the value is parsed as JSON, else taken as a string. Applied last, so it
    /// can replace any claim above
    #[arg(long = "claim", value_name = "NAME=JSON", value_parser = parse_assignment)]
    claims: Vec<(String, Value)>,
    /// Set a header member (JSON value as for --claim); null removes it, e.g. kid=null
    #[arg(long = "header", value_name = "NAME=JSON", value_parser = parse_assignment)]
    headers: Vec<(String, Value)>,
    /// Embed a token narrowed to AUD (same iss and sub, never outliving this one) in the
    /// "embedded_tokens" claim; repeatable
    #[arg(long, value_name = "AUD")]
    embed: Vec<String>,
    /// Embed a given token for AUD, e.g. one minted with its own --embed (nesting); repeatable
    #[arg(long = "embed-token", value_name = "AUD=TOKEN", value_parser = parse_embed_token)]
    embed_tokens: Vec<(String, String)>,
    /// Sign the --embed tokens with this private JWK (and its alg) [default: --key and --alg]
    #[arg(long, value_name = "FILE", requires = "embed")]
    embed_key: Option<PathBuf>,
    /// Cap the --embed tokens' lifetime at SECONDS from now
    #[arg(long, value_name = "SECONDS", requires = "embed")]
    embed_ttl: Option<i64>,
}

#[derive(Args)]
#[command(allow_negative_numbers = true)]
struct InspectArgs {
    /// The token ("-": read it from stdin); a "Bearer " prefix is ignored
    #[arg(value_name = "TOKEN|-")]
    token: String,
    /// Verify signatures against this JWKS (or a single public or private JWK), with the
    /// filter's own key selection and verification
    #[arg(long, value_name = "FILE")]
    jwks: Option<PathBuf>,
    /// Judge times as of this unix time [default: now]
    #[arg(long, value_name = "UNIX")]
    now: Option<i64>,
}

#[derive(Args)]
struct CheckConfigArgs {
    /// Files to check ("-": stdin): the plugin's JSON, an Envoy config (every jwt_relay Wasm
    /// filter in it), or Kubernetes YAML (Istio WasmPlugin, Envoy Gateway EnvoyExtensionPolicy)
    #[arg(value_name = "FILE|-", default_value = "-")]
    files: Vec<String>,
}

#[derive(Args)]
struct EchoArgs {
    /// Address to listen on
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8081")]
    listen: String,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8082")]
    listen: String,
    /// Private JWK files whose public keys the JWKS serves (as `jwks FILE...`); repeatable
    /// [default: an empty JWKS]
    #[arg(long = "jwks-key", value_name = "FILE", num_args = 1..)]
    jwks_keys: Vec<PathBuf>,
    /// Serve the JWKS with `Cache-Control: max-age=N` (its 200s and 304s) [default: no
    /// Cache-Control]
    #[arg(long = "jwks-max-age", value_name = "N")]
    jwks_max_age: Option<u64>,
    /// Serve no ETag / Last-Modified and answer every request with the whole document (how a
    /// service without conditional requests behaves)
    #[arg(long = "no-conditional")]
    no_conditional: bool,
}

#[derive(Args)]
#[command(allow_negative_numbers = true)]
struct RevokeArgs {
    /// Base URL of the stub identity service
    #[arg(long, value_name = "URL")]
    idp: String,
    /// Session id to revoke
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    sid: String,
    /// Tokens of the session issued at or before this time are revoked (unix seconds)
    /// [default: now, on the service's clock]
    #[arg(long, value_name = "N")]
    revoked_at: Option<i64>,
    /// When the entry may leave the feed (unix seconds) [default: not stated]
    #[arg(long, value_name = "N")]
    expires_at: Option<i64>,
}

fn main() -> ExitCode {
    // Usage errors exit with 2 inside `parse`.
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Keygen(args) => keygen(args),
        Command::Jwks(args) => print_jwks(&args.files),
        Command::Mint(args) => mint_token(*args),
        Command::Inspect(args) => inspect_token(&args),
        Command::CheckConfig(args) => check_configs(&args.files),
        Command::Echo(args) => echo::serve_forever(&args.listen),
        Command::Serve(args) => serve_idp(&args),
        Command::Revoke(args) => revoke(&args),
        Command::Demo(args) => demo(&args),
        Command::Cert(args) => make_cert(&args),
        Command::Envoy(args) => match args.command {
            EnvoyCommand::Which { repo } => {
                let repo = repo.unwrap_or_else(|| PathBuf::from("."));
                println!("{}", envoy::find_binary(&repo)?.display());
                Ok(())
            }
        },
    }
}

fn demo(args: &DemoArgs) -> Result<()> {
    let markdown = demo::markdown(&demo::WALKTHROUGH);
    if args.print_markdown {
        println!("{markdown}");
        return Ok(());
    }
    if let Some(file) = &args.update_readme {
        let readme =
            fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        let updated = demo::replace_section(&readme, &markdown).ok_or_else(|| {
            anyhow!(
                "{} has no section between {} and {}",
                file.display(),
                demo::BEGIN,
                demo::END
            )
        })?;
        if updated != readme {
            fs::write(file, updated)?;
            eprintln!("{}: demo section rewritten", file.display());
        }
        return Ok(());
    }
    let repo = std::path::absolute(args.repo.clone().unwrap_or_else(|| PathBuf::from(".")))?;
    let wasm = args
        .wasm
        .clone()
        .unwrap_or_else(|| repo.join("target/wasm32-wasip1/release/jwt_relay.wasm"));
    let binary = envoy::find_binary(&repo)?;
    let dir = std::env::temp_dir().join(format!("jwt-relay-demo-{}", std::process::id()));
    eprintln!(
        "Starting Envoy ({}), the echo upstream and the identity service...",
        binary.display()
    );
    let topology =
        demo::run::Topology::start(&repo, binary, &wasm, demo::run::Ports::Readme, &dir)?;
    eprintln!(
        "edge {} (TLS; CA certificate: {})  internal {}  admin http://{}  identity service {}  (Envoy log: {})",
        topology.target.edge,
        topology.target.ca.display(),
        topology.target.internal,
        topology.envoy.admin(),
        topology.target.idp,
        topology.envoy.log_path().display()
    );
    let cli = std::env::current_exe()?;
    let cli_dir = cli
        .parent()
        .ok_or_else(|| anyhow!("no directory for {}", cli.display()))?;
    let walked = demo::run::walk(
        &demo::WALKTHROUGH,
        &topology.target,
        &repo,
        cli_dir,
        &mut std::io::stdout(),
    );
    if walked.is_err() {
        eprintln!("{}", topology.envoy.log_tail(30));
    }
    walked.map(|_| ())
}

fn make_cert(args: &CertArgs) -> Result<()> {
    let written = if args.names.is_empty() {
        cert::write_default(&args.out)
    } else {
        cert::write(&args.out, &args.names)
    }
    .with_context(|| format!("--out {}", args.out.display()))?;
    println!(
        "CA certificate (trust it for this demo only: curl --cacert): {}",
        written.ca.display()
    );
    println!(
        "edge certificate, for {}, valid until {}: {}",
        written.names.join(", "),
        written.not_after.date(),
        written.cert.display()
    );
    println!("edge private key (mode 0600): {}", written.key.display());
    Ok(())
}

fn keygen(args: KeygenArgs) -> Result<()> {
    let key = SigningKey::generate(args.kind.into(), &args.kid)?;
    // Every output is prepared before any file is written, so a refusal writes nothing.
    let private_pem = match &args.pem {
        Some(_) => Some(key.private_pem().context("--pem")?),
        None => None,
    };
    let public_pem = match &args.public_pem {
        Some(_) => Some(key.public_pem().context("--public-pem")?),
        None => None,
    };
    let text = pretty(&key.to_private_jwk())?;
    match &args.out {
        Some(path) => write_private(path, &text)
            .with_context(|| format!("--out {}: cannot write the key", path.display()))?,
        None => print!("{text}"),
    }
    if let (Some(path), Some(pem)) = (&args.pem, private_pem) {
        write_private(path, &pem)
            .with_context(|| format!("--pem {}: cannot write the key", path.display()))?;
    }
    if let (Some(path), Some(pem)) = (&args.public_pem, public_pem) {
        fs::write(path, pem)
            .with_context(|| format!("--public-pem {}: cannot write the key", path.display()))?;
    }
    if args.jwks {
        print!("{}", pretty(&keys::jwks(&[&key]))?);
    }
    Ok(())
}

/// The text of FILE, or of stdin for "-".
fn read_input(source: &str) -> Result<String> {
    if source == "-" {
        let mut text = String::new();
        io::stdin()
            .read_to_string(&mut text)
            .context("cannot read stdin")?;
        Ok(text)
    } else {
        fs::read_to_string(source).with_context(|| format!("cannot read {source}"))
    }
}

fn inspect_token(args: &InspectArgs) -> Result<()> {
    let text = if args.token == "-" {
        read_input("-").context("TOKEN")?
    } else {
        args.token.clone()
    };
    let token = text.trim();
    let token = match token.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => token[7..].trim_start(),
        _ => token,
    };
    let jwks = match &args.jwks {
        Some(path) => {
            let text = fs::read_to_string(path)
                .with_context(|| format!("--jwks {}: cannot read it", path.display()))?;
            Some(
                inspect::load_jwks(&text)
                    .with_context(|| format!("--jwks {}: not a usable JWKS", path.display()))?,
            )
        }
        None => None,
    };
    let now = args.now.unwrap_or_else(token::now);
    print!(
        "{}",
        inspect::inspect(token, now, jwks.as_ref()).context("TOKEN")?
    );
    Ok(())
}

fn check_configs(files: &[String]) -> Result<()> {
    let (mut checked, mut refused) = (0, 0);
    for file in files {
        let name = if file == "-" { "stdin" } else { file.as_str() };
        let outcomes = read_input(file).and_then(|text| check::check_text(&text));
        let outcomes = match outcomes {
            Ok(outcomes) => outcomes,
            Err(err) => {
                eprintln!("error: {name}: {err:#}");
                refused += 1;
                continue;
            }
        };
        for outcome in outcomes {
            checked += 1;
            match outcome.result {
                Ok(summary) => println!("ok: {name}: {}: {summary}", outcome.location),
                Err(problem) => {
                    refused += 1;
                    eprintln!("error: {name}: {}: {problem}", outcome.location);
                }
            }
        }
    }
    if refused > 0 {
        bail!(
            "{refused} problem(s) in {} file(s), {checked} configuration(s) found",
            files.len()
        );
    }
    Ok(())
}

fn print_jwks(files: &[PathBuf]) -> Result<()> {
    let keys = files
        .iter()
        .map(|path| SigningKey::load(path))
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<&SigningKey> = keys.iter().collect();
    print!("{}", pretty(&keys::jwks(&refs))?);
    Ok(())
}

fn serve_idp(args: &ServeArgs) -> Result<()> {
    let keys = args
        .jwks_keys
        .iter()
        .map(|path| {
            SigningKey::load(path).with_context(|| format!("--jwks-key {}", path.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<&SigningKey> = keys.iter().collect();
    let stub = StubIdp::spawn(&args.listen).context("--listen")?;
    stub.set_jwks(keys::jwks(&refs));
    let max_age = args
        .jwks_max_age
        .map(|seconds| format!("max-age={seconds}"));
    stub.set_cache_control(idp::Endpoint::Jwks, max_age.as_deref());
    stub.set_conditional(!args.no_conditional);

    let base = stub.base_url();
    let kids: Vec<&str> = keys.iter().map(SigningKey::kid).collect();
    let kids = if kids.is_empty() {
        "no keys".to_owned()
    } else {
        format!("kid {}", kids.join(", "))
    };
    eprintln!("stub identity service listening on {base}");
    eprintln!("  JWKS         GET  {base}{}  ({kids})", idp::JWKS_PATH);
    eprintln!("  revocations  GET  {base}{}", idp::REVOCATIONS_PATH);
    eprintln!(
        "  revoke       POST {base}{}?sid=SID[&revoked_at=N][&expires_at=N]",
        idp::ADMIN_REVOKE_PATH
    );
    eprintln!("  hit counts   GET  {base}{}", idp::ADMIN_HITS_PATH);
    if args.no_conditional {
        eprintln!("  (no ETag / Last-Modified: every fetch gets the whole document)");
    } else {
        eprintln!(
            "  (ETag / Last-Modified on every document: a matching If-None-Match gets a 304)"
        );
    }
    // The server runs on its own threads until the process is stopped.
    loop {
        std::thread::park();
    }
}

fn revoke(args: &RevokeArgs) -> Result<()> {
    let answer = idp::request_revoke(&args.idp, &args.sid, args.revoked_at, args.expires_at)
        .with_context(|| format!("--idp {}: cannot revoke --sid {}", args.idp, args.sid))?;
    println!("{answer}");
    Ok(())
}

fn mint_token(args: MintArgs) -> Result<()> {
    let key = SigningKey::load(&args.key).context("--key")?;
    let alg = args.alg.as_deref().unwrap_or(key.default_alg());
    if KeyKind::for_alg(alg) != Some(key.kind()) {
        bail!(
            "--alg {alg} cannot be signed with --key {} (a {} key: {})",
            args.key.display(),
            key.kind(),
            key.kind().algorithms().join(", ")
        );
    }
    let embed_key = match &args.embed_key {
        Some(path) => Some(SigningKey::load(path).context("--embed-key")?),
        None => None,
    };

    let base = match &args.claims_json {
        Some(source) => read_input(source)
            .and_then(|text| claims::parse_claims_json(&text))
            .with_context(|| format!("--claims-json {source}"))?,
        None => Default::default(),
    };
    let now = token::now();
    let flags = ClaimFlags {
        iss: args.iss,
        sub: args.sub,
        aud: args.aud,
        sid: args.sid,
        ttl: args.ttl,
        iat_offset: args.iat_offset,
        nbf_offset: args.nbf_offset,
        exp_offset: args.exp_offset,
        extra: args.claims,
    };
    let claims = claims::merge(base, flags, now)?;
    let embeds = Embeds {
        audiences: args.embed,
        tokens: args.embed_tokens,
        key: embed_key,
        ttl: args.embed_ttl,
    };
    let header = args.headers.into_iter().collect();
    println!("{}", mint::mint(&key, alg, &header, &claims, &embeds, now)?);
    Ok(())
}

fn parse_assignment(arg: &str) -> Result<(String, Value), String> {
    claims::parse_claim(arg).map_err(|err| err.to_string())
}

fn parse_embed_token(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((aud, jwt)) if !aud.is_empty() && !jwt.is_empty() => {
            Ok((aud.to_owned(), jwt.to_owned()))
        }
        _ => Err(format!("expected AUD=TOKEN, got {arg:?}")),
    }
}

fn pretty(value: &Value) -> Result<String> {
    Ok(serde_json::to_string_pretty(value)? + "\n")
}

/// Private keys are created readable by the owner only.
fn write_private(path: &Path, text: &str) -> Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    Ok(())
}
