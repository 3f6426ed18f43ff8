// A task as a card, on the board and on a node's page.

import { h } from './vendor/preact.mjs';
import htm from './vendor/htm.mjs';
import { memo, shortImage, taskName, healthOf } from './util.js';

const html = htm.bind(h);

// TaskCard is one task: service.slot, state, image, health and, when the
// task is stuck or failed, why.
export const TaskCard = memo(function TaskCard({ task, service }) {
  const state = task.Status?.State || 'new';
  const health = healthOf(task);
  const why = task.Status?.Err || (state === 'pending' ? task.Status?.Message : '');
  return html`<a class=${'card s-' + state} href=${'#/service/' + task.ServiceID}
      data-task=${task.ID} data-state=${state} data-service=${service?.Spec?.Name || ''}
      title=${task.ID + (task.Status?.Message ? ' — ' + task.Status.Message : '')}>
    <span class="card-name">${taskName(task, service)}</span>
    <span class="card-state">${state}${task.DesiredState !== 'running' ? ' → ' + task.DesiredState : ''}</span>
    <span class="card-image">${shortImage(task.Spec?.ContainerSpec?.Image)}</span>
    ${health && html`<span class=${'card-health h-' + health}>${health}</span>`}
    ${why && html`<span class="card-why">${why}</span>`}
  </a>`;
});

