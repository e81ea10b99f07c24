//! Rebuilding a read model from the first event into fresh tables, swapped in while the API
//! keeps serving the old rows.

use std::time::Duration;

use super::{Engine, Projection, ProjectionError, Target};

impl Engine {
    /// Rebuilds `projection` from the first event into fresh tables, then swaps their
    /// contents in under the live checkpoint's lock, in one transaction: readers see the old
    /// rows until the commit and the new ones after it, and never wait.
    pub async fn rebuild(&self, projection: &dyn Projection) -> Result<usize, ProjectionError> {
        let name = projection.name();
        let schema = format!(
            "rebuild_{}",
            name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        );
        let checkpoint = format!("{name}__rebuild");
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .execute(&self.pool)
            .await?;
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&self.pool)
            .await?;
        for table in projection.tables() {
            sqlx::query(&format!(
                "CREATE TABLE {schema}.{table} (LIKE public.{table} INCLUDING ALL)"
            ))
            .execute(&self.pool)
            .await?;
        }
        sqlx::query("DELETE FROM projection_checkpoints WHERE name = $1")
            .bind(&checkpoint)
            .execute(&self.pool)
            .await?;
        let target = Target {
            checkpoint: &checkpoint,
            schema: Some(&schema),
        };
        let mut applied = 0;
        loop {
            match self.step_into(projection, target).await? {
                Some(0) => break,
                Some(n) => applied += n,
                None => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }

        let mut tx = self.pool.begin().await?;
        // Holding the live checkpoint keeps the live runner out until the swap commits.
        sqlx::query("INSERT INTO projection_checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT 1 FROM projection_checkpoints WHERE name = $1 FOR UPDATE")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        for table in projection.tables() {
            sqlx::query(&format!("DELETE FROM public.{table}"))
                .execute(&mut *tx)
                .await?;
            sqlx::query(&format!(
                "INSERT INTO public.{table} SELECT * FROM {schema}.{table}"
            ))
            .execute(&mut *tx)
            .await?;
        }
        // The live runner carries on from where the rebuild stopped.
        sqlx::query(
            "UPDATE projection_checkpoints l SET last_tx = r.last_tx, last_position = r.last_position, updated_at = now()
               FROM projection_checkpoints r WHERE l.name = $1 AND r.name = $2",
        )
        .bind(name)
        .bind(&checkpoint)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM projection_checkpoints WHERE name = $1")
            .bind(&checkpoint)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&self.pool)
            .await?;
        Ok(applied)
    }
}
