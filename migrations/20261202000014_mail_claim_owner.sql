-- Who holds a claim on an e-mail: the claiming sender's presence key. A sender holds a
-- session advisory lock on its key for as long as it runs, so a claim whose key is free
-- again belongs to a sender that is gone (killed, crashed) and may be taken at once instead
-- of after the claim's lease (src/mail/presence.rs).
ALTER TABLE notifications ADD COLUMN claimed_by bigint;
ALTER TABLE checkpoint_mail ADD COLUMN claimed_by bigint;
