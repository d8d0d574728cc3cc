import type { DomainConfig } from '../hypervisor-driver.js';

/** Host-side settings that shape a libvirt domain. */
export interface DomainXmlOptions {
  /** kvm (or qemu for TCG) runs HVM guests through QEMU; xen uses libxl. */
  domainType: 'kvm' | 'qemu' | 'xen';
  bridge: string;
}

/** Escapes text for XML content and attribute values. */
export function xmlEscape(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/**
 * libvirt domain XML for a vonode VM. Values are validated upstream and
 * escaped here anyway. The guest console goes to a file in the run dir so
 * the agent (and an operator) can read the boot log.
 */
export function renderDomainXml(config: DomainConfig, options: DomainXmlOptions): string {
  const e = xmlEscape;
  const xen = options.domainType === 'xen';
  const os = xen
    ? `<type arch='x86_64' machine='xenpvh'>xenpvh</type>`
    : `<type arch='x86_64' machine='pc'>hvm</type>`;
  const boot = config.kernelPath
    ? [
        `    <kernel>${e(config.kernelPath)}</kernel>`,
        ...(config.initrdPath ? [`    <initrd>${e(config.initrdPath)}</initrd>`] : []),
        `    <cmdline>${e(config.cmdline ?? (xen ? 'console=hvc0' : 'console=ttyS0'))}</cmdline>`,
      ]
    : xen
      ? []
      : [`    <boot dev='hd'/>`];
  const disk = xen
    ? `<target dev='xvda' bus='xen'/>`
    : `<target dev='vda' bus='virtio'/>`;
  const nicModel = xen ? '' : `\n      <model type='virtio'/>`;
  const console = xen
    ? `<console type='file'>\n      <source path='${e(config.runDir)}/console.log'/>\n      <target type='xen' port='0'/>\n    </console>`
    : `<serial type='file'>\n      <source path='${e(config.runDir)}/console.log'/>\n      <target port='0'/>\n    </serial>`;
  return `<domain type='${options.domainType}'>
  <name>${e(config.name)}</name>
  <memory unit='MiB'>${config.memoryMb}</memory>
  <vcpu>${config.vcpus}</vcpu>
  <os>
    ${os}
${boot.join('\n')}
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='${config.diskFormat}'/>
      <source file='${e(config.diskPath)}'/>
      ${disk}
    </disk>
    <interface type='bridge'>
      <mac address='${e(config.mac)}'/>
      <source bridge='${e(options.bridge)}'/>${nicModel}
    </interface>
    ${console}
  </devices>
</domain>
`;
}
