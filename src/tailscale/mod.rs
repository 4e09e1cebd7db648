//! TEMPORARY interface stub, replaced by the real client (issue 4).
#![allow(dead_code, unused_variables)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::DynClock;
use crate::config::TailscaleConfig;
use crate::domain::{AttributeKey, AttributeValue, NodeId};

#[derive(Debug, Clone, thiserror::Error)]
#[error("tailscale error")]
pub struct TailscaleError;

impl TailscaleError {
    pub fn is_transient(&self) -> bool {
        false
    }
    pub fn retry_after(&self) -> Option<Duration> {
        None
    }
    pub fn status(&self) -> Option<u16> {
        None
    }
}

#[derive(Debug, Clone)]
pub struct Device {
    pub node_id: NodeId,
    pub name: String,
    pub hostname: String,
    pub user: String,
    pub os: String,
    pub addresses: Vec<String>,
    pub tags: Vec<String>,
    pub last_seen: Option<DateTime<Utc>>,
}

#[derive(Clone)]
pub struct TailscaleClient;

impl TailscaleClient {
    pub fn new(_c: &TailscaleConfig) -> anyhow::Result<Self> {
        Ok(Self)
    }
    pub async fn set_attribute(
        &self,
        n: &NodeId,
        k: &AttributeKey,
        v: &AttributeValue,
        e: Option<DateTime<Utc>>,
        c: &str,
    ) -> Result<(), TailscaleError> {
        Ok(())
    }
    pub async fn delete_attribute(
        &self,
        n: &NodeId,
        k: &AttributeKey,
    ) -> Result<(), TailscaleError> {
        Ok(())
    }
}

pub struct DeviceIndex;
impl DeviceIndex {
    pub fn owned_by(&self, e: &str) -> Vec<&Device> {
        vec![]
    }
    pub fn search(&self, q: &str) -> Vec<&Device> {
        vec![]
    }
}

pub struct DeviceDirectory;
impl DeviceDirectory {
    pub fn new(c: TailscaleClient, ttl: Duration, clock: DynClock) -> Self {
        Self
    }
    pub async fn index(&self) -> Result<Arc<DeviceIndex>, TailscaleError> {
        Ok(Arc::new(DeviceIndex))
    }
    pub async fn find(&self, n: &NodeId) -> Result<Option<Device>, TailscaleError> {
        Ok(None)
    }
}
