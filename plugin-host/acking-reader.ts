/**
 * A MessageReader wrapper that acknowledges requests the moment they are read.
 *
 * vscode-jsonrpc's connection dispatches one message per event-loop turn, and a guest call
 * blocks the loop while it runs; acknowledging here, in the same turn the bytes arrive,
 * tells the supervisor "received" even when a long call is queued ahead. Acks for all the
 * requests of one read are coalesced into one notification.
 */
import { Disposable, Message, type DataCallback, type MessageReader } from 'vscode-jsonrpc/node';

export class AckingReader implements MessageReader {
  private pending: Array<number | string> = [];

  constructor(
    private readonly inner: MessageReader,
    private readonly sendAck: (ids: Array<number | string>) => void,
  ) {}

  get onError() {
    return this.inner.onError;
  }
  get onClose() {
    return this.inner.onClose;
  }
  get onPartialMessage() {
    return this.inner.onPartialMessage;
  }

  listen(callback: DataCallback): Disposable {
    return this.inner.listen((message) => {
      if (Message.isRequest(message) && message.id !== null) {
        if (this.pending.length === 0) queueMicrotask(() => this.flush());
        this.pending.push(message.id);
      }
      callback(message);
    });
  }

  private flush(): void {
    const ids = this.pending;
    this.pending = [];
    this.sendAck(ids);
  }

  dispose(): void {
    this.inner.dispose();
  }
}
