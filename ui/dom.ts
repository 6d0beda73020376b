/**
 * The page's whole "reactive layer": `h` builds elements, and `replaceKeepingFocus` swaps a
 * section's content while keeping the keyboard user's place (the focused control and open
 * <details> are found again by their `data-key`), so a section can be redrawn on every poll.
 */
type Child = Node | string | number | null | undefined | false;
type Attributes = Record<string, string | number | boolean | null | undefined | EventListener>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === 'function') element.addEventListener(name.replace(/^on/, ''), value);
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

export function replaceKeepingFocus(container: HTMLElement, ...content: Node[]): void {
  const active = document.activeElement;
  const focusedKey = active instanceof HTMLElement && container.contains(active) ? active.dataset.key : undefined;
  const open = new Set([...container.querySelectorAll<HTMLDetailsElement>('details[open][data-key]')].map((d) => d.dataset.key));
  container.replaceChildren(...content);
  for (const details of container.querySelectorAll<HTMLDetailsElement>('details[data-key]')) {
    if (open.has(details.dataset.key)) details.open = true;
  }
  if (focusedKey) container.querySelector<HTMLElement>(`[data-key="${CSS.escape(focusedKey)}"]`)?.focus();
}
