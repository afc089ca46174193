/** Metric names the handlers emit (Powertools EMF) and the alarms and dashboard read. */
export const METRICS = {
  extractor: ["RowsRead", "RowsRejected", "RowsEnqueued", "SqsRequests", "RunsSucceeded", "RunsHeld"],
  consumer: ["UsersCreated", "UsersUpdated", "UsersUnchanged", "UsersBlocked", "UsersDeleted", "UsersRejected", "Auth0Calls", "Auth0Status429"],
} as const;
export const METRICS_NAMESPACE = "Auth0Sync";
