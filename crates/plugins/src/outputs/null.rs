//! `null`: accepts every chunk and throws it away.
//!
//! No options. Useful to measure the rest of the pipeline, or to silence
//! a route; each flush answers `Ok` without looking at the chunk.

use std::sync::Arc;

use async_trait::async_trait;
use sluice_core::config::{ConfigError, PluginConfig};
use sluice_core::plugin::{BuildOutput, Output, Setup, Spec, Verdict};
use sluice_core::Chunk;

pub const SPEC: Spec<BuildOutput> = Spec {
    name: "null",
    description: "Throw records away",
    properties: &[],
    build,
};

struct Null;

fn build(_: &PluginConfig, _: &Setup) -> Result<Arc<dyn Output>, ConfigError> {
    Ok(Arc::new(Null))
}

#[async_trait]
impl Output for Null {
    async fn flush(&self, _: &Chunk) -> Verdict {
        Verdict::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::testutil::{body, chunk, config, setup};

    #[tokio::test]
    async fn every_flush_is_ok() {
        let out = (SPEC.build)(&config(&SPEC, &[]).unwrap(), &setup()).unwrap();
        let c = chunk("t", &[body(&[])]);
        assert_eq!(out.flush(&c).await, Verdict::Ok);
        assert_eq!(
            out.flush(&Chunk::new("t", vec![0xc1], 1)).await,
            Verdict::Ok
        );
    }

    #[test]
    fn takes_no_options() {
        assert!(config(&SPEC, &[("format", "json")]).is_err());
    }
}
