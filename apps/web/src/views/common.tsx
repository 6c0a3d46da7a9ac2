// Small pieces shared by the views.
import type { ComponentChildren } from 'preact';
import { colour } from '../state.js';

export function Avatar({ id, name, image, size = 32 }: { id: string | null; name: string; image?: string | null; size?: number }) {
  const style = { width: `${size}px`, height: `${size}px`, background: colour(id), fontSize: `${Math.round(size * 0.45)}px` };
  if (image) return <img class="avatar" src={image} alt="" style={style} />;
  return (
    <span class="avatar" aria-hidden="true" style={style}>
      {(name.trim()[0] ?? '?').toUpperCase()}
    </span>
  );
}

export function Field({ label, hint, children }: { label: string; hint?: string; children: ComponentChildren }) {
  return (
    <label class="field">
      <span class="label">{label}</span>
      {children}
      {hint && <small class="hint">{hint}</small>}
    </label>
  );
}

/** Saves a file the way browsers download one. */
export function download(name: string, type: string, data: string | Uint8Array): void {
  const url = URL.createObjectURL(new Blob([data as BlobPart], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
