/**
 * The one base of the product's errors that say whether trying again can help. A handler, the CLI or a flow can ask
 * any of them the same question (`err instanceof SyncError && err.retryable`): a retryable failure fails the record
 * or the run so that it is delivered or started again; a permanent one is recorded or shown with its reason.
 */
export abstract class SyncError extends Error {
  /**
   * The class's name, written as a literal by each class (`override readonly name = "QueueSendError"`): the Lambda
   * bundles are minified, so `new.target.name` or `constructor.name` would log a mangled name there.
   */
  abstract override readonly name: string;
  /** Whether the same attempt, made again later, can succeed. */
  abstract readonly retryable: boolean;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}
